//! The local PKI: a pure core (`cert`, `index`, `names`, `keyenc`) and the one module that owns
//! the `pki/` directory on disk (`store`), the rules for replacing an endpoint's CRL (`crl`),
//! plus adoption of easy-rsa PKIs (`easyrsa`).

pub mod cert;
pub mod crl;
pub mod easyrsa;
pub mod index;
pub mod keyenc;
pub mod names;
pub mod store;

pub use keyenc::Passphrase;
pub use store::{Layout, Pki};
