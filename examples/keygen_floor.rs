//! The floor for issuing client certificates: how long one RSA-2048 key generation takes with
//! the key generator vpnctl itself uses (`vpnctl::pki::cert::new_key`, aws-lc through rcgen).
//! Key generation is a random prime search, so it runs N keys one after another and prints the
//! mean and the median on one machine-readable line, e.g.
//! `keygen_mean_s=0.0931 keygen_median_s=0.0850 n=40`. Usage: `keygen_floor [N]` (default 40).
//! `benches/pki-issue-100.sh` turns the mean into its floor (mean × keys / cores).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::time::Instant;

fn main() {
    let n: usize = match std::env::args().nth(1) {
        None => 40,
        Some(a) => match a.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: keygen_floor [N]  (N: how many keys to time, at least 1)");
                std::process::exit(2);
            }
        },
    };
    let mut secs = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let key = vpnctl::pki::cert::new_key().unwrap();
        secs.push(start.elapsed().as_secs_f64());
        std::hint::black_box(key);
    }
    let mean = secs.iter().sum::<f64>() / n as f64;
    secs.sort_by(f64::total_cmp);
    let median = if n.is_multiple_of(2) {
        (secs[n / 2 - 1] + secs[n / 2]) / 2.0
    } else {
        secs[n / 2]
    };
    println!("keygen_mean_s={mean:.4} keygen_median_s={median:.4} n={n}");
}
