//! USB devices made from configfs gadgets on dummy_hcd: each is a real device to the kernel's
//! USB host side (enumerated, string descriptors read, cdc-acm bound), with the identity the test
//! gives it and a CDC-ACM serial function whose far end is `/dev/ttyGS*`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const GADGETS: &str = "/sys/kernel/config/usb_gadget";

/// A configfs gadget with one CDC-ACM function; unbound and removed when dropped.
pub struct Gadget {
    dir: PathBuf,
    udc: String,
}

fn write(path: &Path, value: &str) {
    std::fs::write(path, value)
        .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", path.display()));
}

/// Polls `condition` every 10 ms until it holds or `within` passes.
pub fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Gadget {
    /// A gadget `name` with identity `vid:pid:serial`, bound to dummy_hcd's UDC `udc` (0 or 1).
    pub fn plug(
        name: &str,
        (vid, pid, serial): (u16, u16, &str),
        product: &str,
        udc: u32,
    ) -> Gadget {
        let dir = Path::new(GADGETS).join(name);
        std::fs::create_dir(&dir).expect("configfs USB gadgets (is libcomposite loaded?)");
        write(&dir.join("idVendor"), &format!("{vid:#06x}"));
        write(&dir.join("idProduct"), &format!("{pid:#06x}"));
        write(&dir.join("bcdUSB"), "0x0200");
        let strings = dir.join("strings/0x409");
        std::fs::create_dir(&strings).unwrap();
        write(&strings.join("serialnumber"), serial);
        write(&strings.join("manufacturer"), "rigor kernel tests");
        write(&strings.join("product"), product);
        let config = dir.join("configs/c.1");
        std::fs::create_dir(&config).unwrap();
        std::fs::create_dir(dir.join("functions/acm.usb0")).unwrap();
        std::os::unix::fs::symlink(dir.join("functions/acm.usb0"), config.join("acm.usb0"))
            .unwrap();
        let gadget = Gadget {
            dir,
            udc: format!("dummy_udc.{udc}"),
        };
        gadget.bind();
        gadget
    }

    /// Connects the gadget to its UDC: the host side enumerates it.
    pub fn bind(&self) {
        write(&self.dir.join("UDC"), &self.udc);
    }

    /// Disconnects it, as unplugging (or a board's power cycle) would.
    pub fn unbind(&self) {
        // A newline, not nothing: an empty write makes no write call, and the UDC stays bound.
        write(&self.dir.join("UDC"), "\n");
    }

    /// The gadget side of its serial function.
    pub fn tty(&self) -> PathBuf {
        let n = std::fs::read_to_string(self.dir.join("functions/acm.usb0/port_num")).unwrap();
        PathBuf::from(format!("/dev/ttyGS{}", n.trim()))
    }
}

impl Drop for Gadget {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("UDC"), "\n");
        let _ = std::fs::remove_file(self.dir.join("configs/c.1/acm.usb0"));
        for d in ["configs/c.1", "functions/acm.usb0", "strings/0x409", ""] {
            let _ = std::fs::remove_dir(self.dir.join(d));
        }
    }
}
