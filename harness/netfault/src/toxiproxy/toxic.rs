//! Toxics as toxiproxy defines them: a kind with its attributes, the stream it acts on, and the
//! share of connections it affects; parsed from and written to toxiproxy's JSON.

use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::tcp_proxy::{Effect, Rule, Stream};

fn parse_stream(s: &str) -> Result<Stream, ApiError> {
    match s {
        "upstream" => Ok(Stream::Upstream),
        "downstream" => Ok(Stream::Downstream),
        other => Err(ApiError::Invalid {
            reason: format!("stream must be upstream or downstream, not `{other}`"),
        }),
    }
}

/// What a toxic does, with toxiproxy's attribute units (milliseconds, KB/s, bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum ToxicKind {
    /// Delays each chunk by `latency` ± `jitter` ms.
    Latency {
        /// Milliseconds.
        latency: u64,
        /// Milliseconds either way.
        jitter: u64,
    },
    /// Limits the stream to `rate` KB/s.
    Bandwidth {
        /// KB/s (1000 bytes).
        rate: u64,
    },
    /// Delays the close (FIN) by `delay` ms.
    SlowClose {
        /// Milliseconds.
        delay: u64,
    },
    /// Passes no data, and closes the connection after `timeout` ms (0: never).
    Timeout {
        /// Milliseconds.
        timeout: u64,
    },
    /// Resets the connection (RST) after `timeout` ms.
    ResetPeer {
        /// Milliseconds.
        timeout: u64,
    },
    /// Closes the connection once `bytes` have passed.
    LimitData {
        /// Bytes.
        bytes: u64,
    },
}

/// A named toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Its name, unique on the proxy (default `<type>_<stream>`).
    pub name: String,
    /// The stream it acts on.
    pub stream: Stream,
    /// The share of connections it acts on, 0 to 1.
    pub toxicity: f64,
    /// What it does.
    pub kind: ToxicKind,
}

/// A toxic as a client sends it: every field optional, as toxiproxy accepts.
#[derive(Debug, Default, Deserialize)]
pub struct ToxicRequest {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    stream: Option<String>,
    toxicity: Option<f64>,
    attributes: Option<Value>,
}

// Attributes per kind. Unknown attributes are ignored, as toxiproxy's JSON decoding does:
// clients written for newer toxiproxy versions send some.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LatencyAttrs {
    latency: u64,
    jitter: u64,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct RateAttrs {
    rate: u64,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct DelayAttrs {
    delay: u64,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct TimeoutAttrs {
    timeout: u64,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct BytesAttrs {
    bytes: u64,
}

fn attrs<T: for<'de> Deserialize<'de> + Default>(v: Option<Value>) -> Result<T, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v).map_err(|e| ApiError::Invalid {
            reason: format!("bad attributes: {e}"),
        }),
    }
}

impl ToxicKind {
    fn parse(kind: &str, attributes: Option<Value>) -> Result<Self, ApiError> {
        Ok(match kind {
            "latency" => {
                let a: LatencyAttrs = attrs(attributes)?;
                Self::Latency {
                    latency: a.latency,
                    jitter: a.jitter,
                }
            }
            "bandwidth" => Self::Bandwidth {
                rate: attrs::<RateAttrs>(attributes)?.rate,
            },
            "slow_close" => Self::SlowClose {
                delay: attrs::<DelayAttrs>(attributes)?.delay,
            },
            "timeout" => Self::Timeout {
                timeout: attrs::<TimeoutAttrs>(attributes)?.timeout,
            },
            "reset_peer" => Self::ResetPeer {
                timeout: attrs::<TimeoutAttrs>(attributes)?.timeout,
            },
            "limit_data" => Self::LimitData {
                bytes: attrs::<BytesAttrs>(attributes)?.bytes,
            },
            other => {
                return Err(ApiError::Invalid {
                    reason: format!(
                        "unknown toxic type `{other}`; rigor has latency, bandwidth, slow_close, \
                         timeout, reset_peer and limit_data"
                    ),
                });
            }
        })
    }

    /// toxiproxy's name for the kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Bandwidth { .. } => "bandwidth",
            Self::SlowClose { .. } => "slow_close",
            Self::Timeout { .. } => "timeout",
            Self::ResetPeer { .. } => "reset_peer",
            Self::LimitData { .. } => "limit_data",
        }
    }

    fn attributes(&self) -> Value {
        match *self {
            Self::Latency { latency, jitter } => json!({ "latency": latency, "jitter": jitter }),
            Self::Bandwidth { rate } => json!({ "rate": rate }),
            Self::SlowClose { delay } => json!({ "delay": delay }),
            Self::Timeout { timeout } | Self::ResetPeer { timeout } => {
                json!({ "timeout": timeout })
            }
            Self::LimitData { bytes } => json!({ "bytes": bytes }),
        }
    }
}

impl Toxic {
    /// A new toxic from a create request.
    pub fn create(req: ToxicRequest) -> Result<Self, ApiError> {
        let kind_name = req.kind.ok_or_else(|| ApiError::Invalid {
            reason: "a toxic needs a type".to_owned(),
        })?;
        let stream = parse_stream(req.stream.as_deref().unwrap_or("downstream"))?;
        let kind = ToxicKind::parse(&kind_name, req.attributes)?;
        let toxicity = check_toxicity(req.toxicity.unwrap_or(1.0))?;
        Ok(Self {
            name: req
                .name
                .unwrap_or_else(|| format!("{kind_name}_{}", stream.as_str())),
            stream,
            toxicity,
            kind,
        })
    }

    /// Changes attributes and toxicity, as toxiproxy's update does (type and stream stay).
    pub fn update(&mut self, req: ToxicRequest) -> Result<(), ApiError> {
        if let Some(t) = req.toxicity {
            self.toxicity = check_toxicity(t)?;
        }
        if let Some(a) = req.attributes {
            // Unset attributes keep their values: merge the new ones over the old.
            let mut merged = self.kind.attributes();
            if let (Value::Object(m), Value::Object(new)) = (&mut merged, a) {
                m.extend(new);
            }
            self.kind = ToxicKind::parse(self.kind.type_name(), Some(merged))?;
        }
        Ok(())
    }

    /// The toxic as toxiproxy writes it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream.as_str(),
            "toxicity": self.toxicity,
            "attributes": self.kind.attributes(),
        })
    }
}

impl From<&Toxic> for Rule {
    fn from(t: &Toxic) -> Self {
        let ms = std::time::Duration::from_millis;
        let effect = match t.kind {
            ToxicKind::Latency { latency, jitter } => Effect::Latency {
                latency: ms(latency),
                jitter: ms(jitter),
            },
            ToxicKind::Bandwidth { rate } => Effect::Bandwidth {
                bytes_per_sec: rate as f64 * 1000.0,
            },
            ToxicKind::SlowClose { delay } => Effect::SlowClose(ms(delay)),
            ToxicKind::Timeout { timeout } => Effect::Timeout((timeout > 0).then(|| ms(timeout))),
            ToxicKind::ResetPeer { timeout } => Effect::ResetPeer(ms(timeout)),
            ToxicKind::LimitData { bytes } => Effect::LimitData(bytes),
        };
        Rule {
            name: t.name.clone(),
            stream: t.stream,
            toxicity: t.toxicity,
            effect,
        }
    }
}

fn check_toxicity(t: f64) -> Result<f64, ApiError> {
    if (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::Invalid {
            reason: format!("toxicity must be between 0 and 1, not {t}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ToxicRequest {
        serde_json::from_value(v).expect("a request")
    }

    #[test]
    fn defaults_follow_toxiproxy() {
        let t = Toxic::create(req(
            json!({"type": "latency", "attributes": {"latency": 50}}),
        ))
        .expect("valid");
        assert_eq!(t.name, "latency_downstream");
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(
            t.to_json(),
            json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
                   "toxicity": 1.0, "attributes": {"latency": 50, "jitter": 0}})
        );
    }

    #[test]
    fn an_update_merges_attributes() {
        let mut t = Toxic::create(req(json!({"type": "latency", "stream": "upstream",
            "attributes": {"latency": 50, "jitter": 5}})))
        .expect("valid");
        t.update(req(json!({"attributes": {"jitter": 9}, "toxicity": 0.5})))
            .expect("valid");
        assert_eq!(
            t.kind,
            ToxicKind::Latency {
                latency: 50,
                jitter: 9
            }
        );
        assert_eq!(t.toxicity, 0.5);
    }

    #[test]
    fn bad_toxics_say_why() {
        for (v, msg) in [
            (json!({}), "a toxic needs a type"),
            (
                json!({"type": "slicer"}),
                "unknown toxic type `slicer`; rigor has latency, bandwidth, slow_close, timeout, \
                 reset_peer and limit_data",
            ),
            (
                json!({"type": "latency", "stream": "sideways"}),
                "stream must be upstream or downstream, not `sideways`",
            ),
            (
                json!({"type": "timeout", "toxicity": 2.0}),
                "toxicity must be between 0 and 1, not 2",
            ),
        ] {
            let err = Toxic::create(req(v)).expect_err(msg);
            assert_eq!(err.to_string(), format!("invalid request: {msg}"));
        }
    }
}
