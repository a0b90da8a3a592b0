//! A real cluster starts, answers, restarts on the same port and stops.

use rigor_pg_cluster::Cluster;

async fn select_one(url: &str) -> Result<i32, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    let one: i32 = client.query_one("SELECT 1", &[]).await?.get(0);
    drop(client);
    let _ = task.await;
    Ok(one)
}

#[tokio::test(flavor = "current_thread")]
async fn starts_answers_restarts_and_stops() {
    let mut cluster = Cluster::start().unwrap();
    assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);
    assert_eq!(select_one(&cluster.superuser_url()).await.unwrap(), 1);

    let wrong = cluster.url().replace("rigor:", "rigor:x");
    let err = select_one(&wrong).await.unwrap_err();
    let code = err.as_db_error().map(|e| e.code().clone());
    assert_eq!(
        code,
        Some(tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err:?}"
    );

    let port = cluster.port();
    cluster.restart().unwrap();
    assert_eq!(cluster.port(), port);
    assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);

    cluster.stop().unwrap();
    assert!(select_one(&cluster.url()).await.is_err());
    cluster.restart().unwrap();
    assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);
}
