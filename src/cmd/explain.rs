//! `sweep explain`: for each path (which need not exist), its owner, layout, date,
//! period, cutoff and decision with its reason. Nothing is walked unless the owner has
//! whole-tree rules (`keep_last`, thinning, capacity); then its root is counted, as
//! `plan` counts it.

use crate::act::explain::{Tree, absolute, decide};
use crate::config::ExplainConfig;
use crate::exit::Exit;
use crate::report::Printer;

/// Runs `explain`.
pub fn run(cfg: &ExplainConfig) -> Exit {
    let mut out = Printer::new(cfg.style);
    let (set, selected) = match super::load(&cfg.selection, &out.log()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    for p in &cfg.paths {
        if !out.is_open() {
            break;
        }
        let path = absolute(p);
        let d = decide(&set, &selected, &path, &cfg.now, Tree::Walk);
        crate::report::explain::print(&mut out, &path, d.as_ref());
    }
    out.finish(Exit::Clean)
}
