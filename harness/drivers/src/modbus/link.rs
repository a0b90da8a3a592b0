//! One Modbus connection and the requests on it: a TCP socket of one instrument, or an RTU serial
//! line that every instrument on the bus shares.
//!
//! The link owns the tokio-modbus context behind a lock, so requests on it are serialized (on an
//! RS-485 line only one frame may be on the wire at a time), and sets the unit id per request, so
//! instruments with different ids share one context. It keeps tokio-modbus's three kinds of bad
//! news apart: a transport error or a timeout is the rig's and drops the context, so the next
//! request reconnects (a supply's Ethernet bridge that rebooted is found again, a USB adapter that
//! re-enumerated under its by-id link is opened again); an exception response is typed with its
//! code.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use rigor_hal::HalError;
use rigor_hal::error::modbus_exception_name;
use tokio::sync::Mutex;
use tokio_modbus::client::Context;
use tokio_modbus::slave::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

#[cfg(feature = "modbus-rtu")]
use super::rtu::RtuSettings;

/// What a request returns: a future borrowing the context it was lent.
pub(crate) type Reply<'c, T> = Pin<Box<dyn Future<Output = tokio_modbus::Result<T>> + Send + 'c>>;

/// How the link's context is made.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Modbus TCP to one address.
    Tcp(SocketAddr),
    /// Modbus RTU on a serial line.
    #[cfg(feature = "modbus-rtu")]
    Rtu(RtuSettings),
}

/// Who asks, for the link to address and to name in errors.
pub(crate) struct Asker<'a> {
    /// The instrument, as errors name it (`psu-1 (riden-rd6006 at 127.0.0.1:502, unit 1)`).
    pub who: &'a str,
    /// Its unit (slave) id.
    pub unit: u8,
    /// How long one request may take.
    pub timeout: Duration,
}

/// A Modbus connection, opened on the first request and again after it failed.
#[derive(Debug)]
pub(crate) struct Link {
    transport: Transport,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    context: Option<Context>,
    /// When the line last carried a frame (RTU only): the next starts no sooner than the
    /// inter-frame gap after it.
    #[cfg_attr(not(feature = "modbus-rtu"), allow(dead_code))]
    last_frame: Option<tokio::time::Instant>,
    /// A request timed out (after the duration held here) or was answered out of turn, so an
    /// answer may still be on its way: drain the line before the next request.
    #[cfg_attr(not(feature = "modbus-rtu"), allow(dead_code))]
    stale: Option<Duration>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("connected", &self.context.is_some())
            .field("stale", &self.stale.is_some())
            .finish()
    }
}

impl Link {
    /// A link over `transport`; nothing is opened yet.
    pub(crate) fn new(transport: Transport) -> Self {
        Link {
            transport,
            state: Mutex::new(State::default()),
        }
    }

    /// Where the link goes, for messages: `at 127.0.0.1:502`, `on /dev/ttyUSB0 at 9600 8N1`.
    pub(crate) fn describe(&self) -> String {
        match &self.transport {
            Transport::Tcp(address) => format!("at {address}"),
            #[cfg(feature = "modbus-rtu")]
            Transport::Rtu(settings) => format!("on {settings}"),
        }
    }

    /// Runs one request for `asker`, opening the link first if needed; drops the context on a
    /// transport error, a garbled answer or a timeout, and then drains the line before the next
    /// request (an RTU answer may arrive late).
    pub(crate) async fn call<T, F>(
        &self,
        asker: &Asker<'_>,
        what: &str,
        request: F,
    ) -> Result<T, HalError>
    where
        F: for<'c> FnOnce(&'c mut Context) -> Reply<'c, T>,
    {
        let mut state = self.state.lock().await;
        let mut context = match state.context.take() {
            Some(context) => context,
            None => self.open(asker, state.stale).await?,
        };
        // Until an answer arrives, assume one may come late: if this future is dropped mid-request
        // (a step's deadline), the context goes with it and the next request drains the line.
        state.stale = Some(asker.timeout);
        context.set_slave(Slave(asker.unit));
        #[cfg(feature = "modbus-rtu")]
        if let (Transport::Rtu(settings), Some(last)) = (&self.transport, state.last_frame) {
            tokio::time::sleep_until(last + settings.frame_gap()).await;
        }
        let result = tokio::time::timeout(asker.timeout, request(&mut context)).await;
        state.last_frame = Some(tokio::time::Instant::now());
        let (reply, healthy) = judge(result, asker, what);
        if healthy {
            state.context = Some(context);
            state.stale = None;
        }
        reply
    }

    async fn open(&self, asker: &Asker<'_>, stale: Option<Duration>) -> Result<Context, HalError> {
        match &self.transport {
            Transport::Tcp(address) => {
                let _ = stale; // a new TCP connection carries no late answers of the old one
                let connect = tokio_modbus::client::tcp::connect_slave(*address, Slave(asker.unit));
                match tokio::time::timeout(asker.timeout, connect).await {
                    Ok(Ok(ctx)) => Ok(ctx),
                    Ok(Err(e)) => Err(HalError::Disconnected {
                        what: asker.who.to_owned(),
                        source: Some(e),
                    }),
                    Err(_) => Err(HalError::Timeout {
                        what: format!("connecting to {}", asker.who),
                        after: asker.timeout,
                    }),
                }
            }
            #[cfg(feature = "modbus-rtu")]
            Transport::Rtu(settings) => {
                let port = super::rtu::open(settings, stale).await?;
                Ok(tokio_modbus::client::rtu::attach_slave(
                    port,
                    Slave(asker.unit),
                ))
            }
        }
    }
}

/// What an answer (or its absence) means: the value, an exception typed with its code, or the
/// rig's error; and whether the line is still to be trusted (an answer in turn, even an
/// exception, leaves it so).
pub(crate) fn judge<T>(
    result: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
    asker: &Asker<'_>,
    what: &str,
) -> (Result<T, HalError>, bool) {
    let failed = |what: &str| format!("{}, {what}", asker.who);
    match result {
        Ok(Ok(Ok(v))) => (Ok(v), true),
        Ok(Ok(Err(code))) => (Err(exception(failed(what), code)), true),
        Ok(Err(tokio_modbus::Error::Transport(e))) => (
            Err(HalError::Disconnected {
                what: asker.who.to_owned(),
                source: Some(e),
            }),
            false,
        ),
        // A garbled or mismatched answer (a CRC error, another unit's reply): the line is not
        // to be trusted until it was opened again.
        Ok(Err(tokio_modbus::Error::Protocol(e))) => (
            Err(HalError::Io {
                what: failed(what),
                source: std::io::Error::other(e),
            }),
            false,
        ),
        Err(_) => (
            Err(HalError::Timeout {
                what: failed(what),
                after: asker.timeout,
            }),
            false,
        ),
    }
}

fn exception(what: String, code: ExceptionCode) -> HalError {
    let code = u8::from(code);
    HalError::Exception {
        what,
        code,
        name: modbus_exception_name(code),
    }
}
