//! Reading a station's records back from the central store in the station store's own export
//! form, so the two can be compared row for row, and a unit's history read by serial.

use rigor_store::RunId;
use rigor_store::{
    Export, ExportArtifact, ExportEnd, ExportMeasurement, ExportRun, ExportSession, ExportStep,
};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::error::CentralError;

/// Every record the central store holds from `station`, ordered as
/// [`rigor_store::Store::export_runs`] orders them (by station run id, then row key).
pub async fn station_export(client: &Client, station: Uuid) -> Result<Export, CentralError> {
    let runs = client
        .query(
            "SELECT r.run_uuid, r.station_run_id, r.unit_serial, u.family, u.generation, \
             u.first_seen_us, r.scenario_name, r.scenario_version, r.scenario_sha256, \
             r.station_attempt, r.station, r.rig, r.slot, r.fixture_id, r.fixture_insertions, \
             r.operator, r.firmware_sha256, r.firmware_version, r.limits_sha256, \
             r.started_at_us, e.ended_at_us, e.outcome, e.failure_class, e.message, \
             ss.session_id, ss.role \
             FROM runs AS r JOIN units AS u ON u.serial = r.unit_serial \
             LEFT JOIN run_ends AS e ON e.run_uuid = r.run_uuid \
             LEFT JOIN run_sessions AS ss ON ss.run_uuid = r.run_uuid \
             WHERE r.station_id = $1 ORDER BY r.station_run_id",
            &[&station],
        )
        .await
        .map_err(CentralError::pg("read runs"))?;
    let runs: Vec<ExportRun> = runs
        .iter()
        .map(|row| {
            let ended_at_us: Option<i64> = row.get(20);
            ExportRun {
                id: RunId(row.get(1)),
                uuid: row.get(0),
                unit_serial: row.get(2),
                family: row.get(3),
                generation: row.get(4),
                unit_first_seen_us: row.get(5),
                scenario_name: row.get(6),
                scenario_version: row.get(7),
                scenario_sha256: row.get(8),
                attempt: row.get(9),
                station: row.get(10),
                rig: row.get(11),
                slot: row.get(12),
                fixture_id: row.get(13),
                fixture_insertions: row.get(14),
                operator: row.get(15),
                firmware_sha256: row.get(16),
                firmware_version: row.get(17),
                limits_sha256: row.get(18),
                started_at_us: row.get(19),
                end: ended_at_us.map(|ended_at_us| ExportEnd {
                    ended_at_us,
                    outcome: row.get(21),
                    failure_class: row.get(22),
                    message: row.get(23),
                }),
                session: row.get::<_, Option<String>>(24).map(|id| ExportSession {
                    id,
                    role: row.get(25),
                }),
            }
        })
        .collect();
    let of_station = "JOIN runs AS r ON r.run_uuid = x.run_uuid WHERE r.station_id = $1 \
                      ORDER BY r.station_run_id";
    let steps = client
        .query(
            &format!(
                "SELECT x.run_uuid, x.step_index, x.step_id, x.kind, x.attempt, \
                 x.started_at_us, x.ended_at_us, x.outcome, x.message FROM steps AS x \
                 {of_station}, x.step_index"
            ),
            &[&station],
        )
        .await
        .map_err(CentralError::pg("read steps"))?
        .iter()
        .map(|row| ExportStep {
            run: row.get(0),
            step_index: row.get(1),
            step_id: row.get(2),
            kind: row.get(3),
            attempt: row.get(4),
            started_at_us: row.get(5),
            ended_at_us: row.get(6),
            outcome: row.get(7),
            message: row.get(8),
        })
        .collect();
    let measurements = client
        .query(
            &format!(
                "SELECT x.run_uuid, x.seq, x.step_index, x.name, x.value, x.text_value, x.unit, \
                 x.comparator, x.low, x.low_inclusive, x.high, x.high_inclusive, \
                 x.marginal_low, x.marginal_high, x.marginal, x.outcome, x.measured_at_us \
                 FROM measurements AS x {of_station}, x.seq"
            ),
            &[&station],
        )
        .await
        .map_err(CentralError::pg("read measurements"))?
        .iter()
        .map(|row| ExportMeasurement {
            run: row.get(0),
            seq: row.get(1),
            step_index: row.get(2),
            name: row.get(3),
            value: row.get(4),
            text_value: row.get(5),
            unit: row.get(6),
            comparator: row.get(7),
            low: row.get(8),
            low_inclusive: row.get(9),
            high: row.get(10),
            high_inclusive: row.get(11),
            marginal_low: row.get(12),
            marginal_high: row.get(13),
            marginal: row.get(14),
            outcome: row.get(15),
            measured_at_us: row.get(16),
        })
        .collect();
    let artifacts = client
        .query(
            "SELECT x.run_uuid, x.link_id, x.step_index, x.name, x.media_type, x.sha256 \
             FROM run_artifacts AS x JOIN runs AS r ON r.run_uuid = x.run_uuid \
             WHERE r.station_id = $1 ORDER BY x.link_id",
            &[&station],
        )
        .await
        .map_err(CentralError::pg("read artifact links"))?
        .iter()
        .map(|row| ExportArtifact {
            run: row.get(0),
            link_id: row.get(1),
            step_index: row.get(2),
            name: row.get(3),
            media_type: row.get(4),
            sha256: row.get(5),
        })
        .collect();
    Ok(Export {
        runs,
        steps,
        measurements,
        artifacts,
    })
}

/// The content of a blob the central store holds.
pub async fn blob(client: &Client, sha256: &str) -> Result<Option<Vec<u8>>, CentralError> {
    Ok(client
        .query_opt(
            "SELECT content FROM artifact_blobs WHERE sha256 = $1",
            &[&sha256],
        )
        .await
        .map_err(CentralError::pg("read a blob"))?
        .map(|row| row.get(0)))
}
