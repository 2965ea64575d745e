//! Runtime CPU dispatch for the hot loops.
//!
//! The kernels are plain Rust written so that the compiler vectorises them, and marked
//! `#[inline(always)]`. Each entry point has a twin compiled with `#[target_feature]` for
//! AVX2 and FMA ([`dispatch!`]): on CPUs that have them the twin runs, with the kernels inlined
//! into it and vectorised for AVX2; other CPUs run the same code built for the baseline
//! target. Results are identical either way: the kernels use integer arithmetic, or floating
//! point without reassociation or contraction.

/// Whether the running CPU has AVX-512 (F, BW, DQ, VL, CD) besides AVX2 and FMA (checked once,
/// then cached by std).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512cd")
        && has_avx2()
}

/// Whether the running CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Defines `$vis fn $name(&mut self, args) -> ret` running `self.$inner(args)` (an
/// `#[inline(always)]` method), and its twins `$avx2` and `$avx512` compiled for AVX2 + FMA and
/// for AVX-512, which `$name` calls when the CPU has those.
macro_rules! dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty
        => $inner:ident, $avx2:ident, $avx512:ident) => {
        $(#[$meta])*
        $vis fn $name(&mut self $(, $arg: $ty)*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if $crate::simd::has_avx512() {
                    // SAFETY: the twin only needs the CPU features just checked to be present.
                    return unsafe { self.$avx512($($arg),*) };
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: as above.
                    return unsafe { self.$avx2($($arg),*) };
                }
            }
            self.$inner($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt")]
        fn $avx2(&mut self $(, $arg: $ty)*) -> $ret {
            self.$inner($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(
            enable = "avx2,fma,bmi1,bmi2,lzcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512cd"
        )]
        fn $avx512(&mut self $(, $arg: $ty)*) -> $ret {
            self.$inner($($arg),*)
        }
    };
}

pub(crate) use dispatch;

/// Mirror an index into `0..n` without repeating the edge sample: -1 -> 1, n -> n - 2
/// (VIF's and motion's padding; "reflect 101").
#[inline(always)]
pub(crate) fn reflect101(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = if i < 0 {
        -i
    } else if i >= n {
        2 * n - i - 2
    } else {
        i
    };
    m as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_at_both_edges() {
        let got: Vec<usize> = (-3..8).map(|i| reflect101(i, 5)).collect();
        assert_eq!(got, [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
    }
}
