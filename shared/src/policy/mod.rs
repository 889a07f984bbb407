//! The promises of the privacy notices: how long data is kept (`retention`, the one file with
//! every deadline rule), what logs may show (`mask`), and the data subject's rights
//! (`privacy`: erasure, access, legal holds).

pub mod mask;
pub mod privacy;
pub mod retention;
pub mod scrub;
