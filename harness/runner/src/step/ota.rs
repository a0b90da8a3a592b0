//! Updates over the air: telling the slot's update server what to offer, and measuring the
//! transfers from its log.

use rigor_model::action::OtaQuantity;
use rigor_plan::plan::{BoundAction, BoundStep};
use rigor_update_server::{Behaviour, Offer};

use super::*;
use crate::engine::{Done, Run};

impl Run {
    pub(super) async fn ota_step(&mut self, step: &BoundStep) -> Done {
        let server = need!(self.devices.update_server.clone(), "the update server");
        match &step.action {
            BoundAction::OtaOffer {
                image,
                cut_after,
                cuts,
                corrupt,
                truncate,
                stall,
                ..
            } => {
                let behaviour = Behaviour {
                    cut_after: *cut_after,
                    cuts: if cut_after.is_some() { *cuts } else { 0 },
                    corrupt: *corrupt,
                    truncate: *truncate,
                    stall: *stall,
                };
                match Offer::from_files(std::path::Path::new(image), behaviour) {
                    Ok(offer) => {
                        server.offer(offer);
                        Done::Pass
                    }
                    // The scenario names an image that is not there or not signed.
                    Err(e) => Done::Error(FailureClass::Scenario, e.to_string()),
                }
            }
            BoundAction::OtaMeasure {
                name,
                quantity,
                limits,
                ..
            } => {
                let stats = server.stats();
                let value = match quantity {
                    OtaQuantity::ImageRequests => f64::from(stats.image_requests),
                    OtaQuantity::ResumedRequests => f64::from(stats.ranged_requests),
                    OtaQuantity::BytesSent => stats.bytes_sent as f64,
                    OtaQuantity::BytesRedownloaded => stats.bytes_redownloaded as f64,
                    OtaQuantity::Cuts => f64::from(stats.cuts),
                    OtaQuantity::TimeToRecover => match stats.time_to_recover {
                        Some(t) => t.as_secs_f64(),
                        None => {
                            return Done::Fail(format!(
                                "{name}: no request followed the last cut transfer: the update \
                                 client never came back to its download"
                            ));
                        }
                    },
                };
                self.judge(name, Value::Number(value), Some(quantity.unit()), limits)
            }
            _ => not_of_family(step, "ota"),
        }
    }
}
