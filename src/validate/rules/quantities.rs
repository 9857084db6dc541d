//! Durations, CPU quantities and memory sizes.

use super::{Ctx, help};
use crate::diag::Code;
use crate::units;

/// The longest duration every target can carry: Kubernetes keeps probe and deadline seconds in
/// 32 bits.
const MAX_DURATION_S: u64 = i32::MAX as u64;

pub(super) fn duration(cx: &mut Ctx<'_>, p: &str, v: &str) {
    let Some(ms) = units::duration_ms(v) else {
        let d = cx.at(p, Code::BadDuration, format!("`{v}` is not a duration"));
        help(
            d,
            "write a number with a unit: ms, s, m or h, e.g. `30s` or `1m30s`",
        );
        return;
    };
    if ms.div_ceil(1000) > MAX_DURATION_S {
        let d = cx.at(
            p,
            Code::BadDuration,
            format!("`{v}` is {}s; at most {MAX_DURATION_S}s", ms.div_ceil(1000)),
        );
        help(d, "Kubernetes keeps probe and deadline seconds in 32 bits");
    } else if ms == 0 && (p.ends_with("/interval") || p.ends_with("/timeout")) {
        let d = cx.at(p, Code::BadDuration, format!("`{v}` is zero"));
        help(
            d,
            "podman refuses a zero health timeout and reads a zero interval as no check; Kubernetes needs 1s or more: write `1s` or more",
        );
    }
}

pub(super) fn resources(cx: &mut Ctx<'_>, p: &str, r: &crate::spec::model::Resources) {
    if let Some(c) = &r.cpu
        && units::millicpu(c).is_none()
    {
        let d = cx.at(
            &format!("{p}/cpu"),
            Code::BadQuantity,
            format!("`{c}` is not a CPU quantity"),
        );
        help(d, "write CPUs as `1`, `0.5` or `500m`");
    }
    if let Some(m) = &r.memory {
        match units::bytes(m) {
            None => {
                let d = cx.at(
                    &format!("{p}/memory"),
                    Code::BadQuantity,
                    format!("`{m}` is not a memory size"),
                );
                help(
                    d,
                    "write a number with Ki, Mi, Gi (or k, M, G), e.g. `512Mi`",
                );
            }
            Some(b) if b < MIN_MEMORY => {
                let d = cx.at(
                    &format!("{p}/memory"),
                    Code::BadQuantity,
                    format!("`{m}` is {b} bytes; container engines need at least 6Mi"),
                );
                help(d, "docker and podman refuse a memory limit below 6 MiB");
            }
            Some(_) => {}
        }
    }
}

/// The smallest memory limit docker and podman accept.
const MIN_MEMORY: u64 = 6 << 20;
