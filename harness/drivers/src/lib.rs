//! rigor's hardware backends, one module per real interface, each behind a cargo feature where it
//! pulls heavy dependencies. Consoles live in `rigor-console`. They implement the traits of `rigor-hal`; the virtual bench is reached
//! through the same backends.

#[cfg(feature = "modbus")]
pub mod modbus;

#[cfg(feature = "net-proxy")]
pub mod net_proxy;

#[cfg(all(feature = "gpio-cdev", target_os = "linux"))]
pub mod gpio_cdev;

#[cfg(all(feature = "i2c-dev", target_os = "linux"))]
pub mod i2c_dev;
