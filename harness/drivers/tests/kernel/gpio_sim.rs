//! A gpio-sim chip made through configfs, and its simulator side in sysfs: what the rig drives is
//! read back from `value`, what the device drives is set through `pull`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONFIGFS: &str = "/sys/kernel/config/gpio-sim";

/// A live gpio-sim chip with one bank; removed when dropped.
pub struct SimChip {
    dir: PathBuf,
    /// The bank's label: what the backend finds the chip by.
    pub label: String,
    /// `/sys/devices/platform/gpio-sim.N/gpiochipM`: the lines' simulator side.
    sysfs: PathBuf,
    named: Vec<u32>,
}

fn write(path: &Path, value: &str) {
    std::fs::write(path, value)
        .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_owned()
}

impl SimChip {
    /// A chip labelled `label` with `num_lines` lines, `names` naming some of them.
    pub fn new(label: &str, num_lines: u32, names: &[(u32, String)]) -> SimChip {
        let dir = Path::new(CONFIGFS).join(label);
        let bank = dir.join("bank0");
        std::fs::create_dir(&dir).expect("gpio-sim in configfs (is gpio_sim_oot loaded?)");
        std::fs::create_dir(&bank).unwrap();
        write(&bank.join("num_lines"), &num_lines.to_string());
        write(&bank.join("label"), label);
        for (offset, name) in names {
            let line = bank.join(format!("line{offset}"));
            std::fs::create_dir(&line).unwrap();
            write(&line.join("name"), name);
        }
        write(&dir.join("live"), "1");
        let sysfs = Path::new("/sys/devices/platform")
            .join(read(&dir.join("dev_name")))
            .join(read(&bank.join("chip_name")));
        SimChip {
            dir,
            label: label.to_owned(),
            sysfs,
            named: names.iter().map(|(o, _)| *o).collect(),
        }
    }

    /// The level the line's consumer drives, as the simulator sees it.
    pub fn value(&self, offset: u32) -> bool {
        read(&self.sysfs.join(format!("sim_gpio{offset}/value"))) == "1"
    }

    /// Drives an input line from the device's side.
    pub fn pull(&self, offset: u32, high: bool) {
        let pull = if high { "pull-up" } else { "pull-down" };
        write(&self.sysfs.join(format!("sim_gpio{offset}/pull")), pull);
    }

    /// The `/dev/gpiochipN` the kernel made for the bank.
    pub fn dev_path(&self) -> PathBuf {
        Path::new("/dev").join(self.sysfs.file_name().unwrap())
    }

    /// Toggles `offset` from the device's side: low for `lead`, then `periods` pulses of `high`
    /// then `low`. The sleeps are the signal's own timing, not waits for a condition. Returns
    /// when each edge of the pulses was made, and its new level.
    ///
    /// The lead gives a reader time to be waiting: in this guest, an edge that comes while an
    /// earlier one waits unread in the request is lost (the kernel counts it in `line_seqno`, but
    /// no event arrives).
    pub fn pulse_train(
        &self,
        offset: u32,
        lead: Duration,
        (high, low): (Duration, Duration),
        periods: u32,
    ) -> Vec<(Instant, bool)> {
        self.pull(offset, false);
        let start = Instant::now();
        let mut at = lead;
        let mut made = Vec::new();
        for _ in 0..periods {
            for (level, length) in [(true, low), (false, high)] {
                at += length;
                std::thread::sleep(at.saturating_sub(start.elapsed()));
                self.pull(offset, level);
                made.push((Instant::now(), level));
            }
        }
        made
    }
}

impl Drop for SimChip {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("live"), "0");
        for offset in &self.named {
            let _ = std::fs::remove_dir(self.dir.join(format!("bank0/line{offset}")));
        }
        let _ = std::fs::remove_dir(self.dir.join("bank0"));
        let _ = std::fs::remove_dir(&self.dir);
    }
}
