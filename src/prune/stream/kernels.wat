;; Magnitude-selection kernels for streamed pruning (src/prune/stream/kernels.ts).
;;
;; Why WebAssembly: streamed global pruning makes two or three passes over every target weight
;; of a model (radix histograms, mask-and-zero). In plain JS each pass costs 2 to 3 ns a
;; weight, about 1 s a pass for pegasus-large's 470M targets; with 128-bit SIMD and no bounds
;; checks these loops run several times faster. The in-memory engine (src/prune/select.ts, JS)
;; selects the same weights; the tests compare the two.
;;
;; Keys are fp32 bit patterns with the sign cleared: for non-negative IEEE floats the bit
;; patterns order as the values do, so |w| is never computed. All pointers are byte addresses
;; in the imported memory; weights must be 4-byte aligned, `n` counts weights.
;;
;; Build: `npm run build:kernels` (wabt) writes kernels.wasm next to this file; a test checks
;; that the committed binary is this source's.
(module
  (memory (import "env" "memory") 1)

  ;; Sub-histogram stride: 32768 bins of 4 bytes. Four interleaved sub-histograms keep
  ;; consecutive equal keys (common: weights cluster) from stalling on one counter.
  (global $SUB i32 (i32.const 131072))

  ;; hist[sub][|w| >>> 16] += 1 for each weight, weight i counted in sub-histogram i % 4.
  ;; `hist` points at 4 x 32768 u32 counters; the caller sums the four.
  (func (export "histAbs") (param $src i32) (param $n i32) (param $hist i32)
    (local $end i32) (local $p i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; ((w >>> 16) & 0x7fff) * 4 == (w >>> 14) & 0x1fffc
        (local.set $p (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load (local.get $src)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (i32.const 1)))
        (local.set $p (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load offset=4 (local.get $src)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store offset=131072 (local.get $p) (i32.add (i32.load offset=131072 (local.get $p)) (i32.const 1)))
        (local.set $p (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load offset=8 (local.get $src)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store offset=262144 (local.get $p) (i32.add (i32.load offset=262144 (local.get $p)) (i32.const 1)))
        (local.set $p (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load offset=12 (local.get $src)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store offset=393216 (local.get $p) (i32.add (i32.load offset=393216 (local.get $p)) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $next)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $p (i32.add (local.get $hist) (i32.and (i32.shr_u (i32.load (local.get $src)) (i32.const 14)) (i32.const 0x1fffc))))
        (i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $next))))

  ;; The second radix digit, counted inside a window of first-digit buckets: for weights whose
  ;; bucket b = |w| >>> 16 lies in [base, base + width), low[(b - base) * 65536 + (|w| & 0xffff)]
  ;; += 1. A window of one bucket is the classic second pass; a few buckets around a guessed
  ;; bucket let the first pass count both digits at once. Four weights are tested at a time;
  ;; the window holds a small share of them, so the scalar path is rare.
  (func $lowOne (param $w i32) (param $base i32) (param $width i32) (param $low i32)
    (local $p i32) (local $d i32)
    (local.set $w (i32.and (local.get $w) (i32.const 0x7fffffff)))
    (local.set $d (i32.sub (i32.shr_u (local.get $w) (i32.const 16)) (local.get $base)))
    (if (i32.lt_u (local.get $d) (local.get $width))
      (then
        (local.set $p (i32.add (local.get $low)
          (i32.shl (i32.or (i32.shl (local.get $d) (i32.const 16)) (i32.and (local.get $w) (i32.const 0xffff))) (i32.const 2))))
        (i32.store (local.get $p) (i32.add (i32.load (local.get $p)) (i32.const 1))))))

  (func (export "countWindow") (param $src i32) (param $n i32) (param $base i32) (param $width i32) (param $low i32)
    (local $end i32) (local $x v128) (local $abs v128) (local $b v128) (local $w v128)
    (local.set $abs (i32x4.splat (i32.const 0x7fffffff)))
    (local.set $b (i32x4.splat (local.get $base)))
    (local.set $w (i32x4.splat (local.get $width)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load (local.get $src)))
        (if (v128.any_true (i32x4.lt_u
              (i32x4.sub (i32x4.shr_u (v128.and (local.get $x) (local.get $abs)) (i32.const 16)) (local.get $b))
              (local.get $w)))
          (then
            (call $lowOne (i32x4.extract_lane 0 (local.get $x)) (local.get $base) (local.get $width) (local.get $low))
            (call $lowOne (i32x4.extract_lane 1 (local.get $x)) (local.get $base) (local.get $width) (local.get $low))
            (call $lowOne (i32x4.extract_lane 2 (local.get $x)) (local.get $base) (local.get $width) (local.get $low))
            (call $lowOne (i32x4.extract_lane 3 (local.get $x)) (local.get $base) (local.get $width) (local.get $low))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $next)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (call $lowOne (i32.load (local.get $src)) (local.get $base) (local.get $width) (local.get $low))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $next))))

  ;; Mask-and-zero state, kept across the calls for one tensor (its chunks) and read back by
  ;; the caller: how many weights were pruned, how many kept weights are zero already, and the
  ;; largest pruned |w| key.
  (global $pruned (mut i32) (i32.const 0))
  (global $keptZeros (mut i32) (i32.const 0))
  (global $maxPruned (mut i32) (i32.const 0))
  ;; How many weights equal to the threshold may still be pruned, first ones first.
  (global $ties (mut i32) (i32.const 0))

  (func (export "resetStats") (param $ties i32)
    (global.set $pruned (i32.const 0))
    (global.set $keptZeros (i32.const 0))
    (global.set $maxPruned (i32.const 0))
    (global.set $ties (local.get $ties)))
  (func (export "pruned") (result i32) (global.get $pruned))
  (func (export "keptZeros") (result i32) (global.get $keptZeros))
  (func (export "maxPruned") (result i32) (global.get $maxPruned))
  (func (export "ties") (result i32) (global.get $ties))

  ;; One weight, in order: keep it (returns 1) when |w| > threshold, or when it equals the
  ;; threshold and the tie budget is spent; otherwise write +0 over it and return 0.
  (func $maskOne (param $p i32) (param $threshold i32) (result i32)
    (local $a i32)
    (local.set $a (i32.and (i32.load (local.get $p)) (i32.const 0x7fffffff)))
    (if (i32.gt_u (local.get $a) (local.get $threshold))
      (then (return (i32.const 1))))
    (if (i32.and (i32.eq (local.get $a) (local.get $threshold)) (i32.eqz (global.get $ties)))
      (then
        (if (i32.eqz (local.get $a)) (then (global.set $keptZeros (i32.add (global.get $keptZeros) (i32.const 1)))))
        (return (i32.const 1))))
    (if (i32.eq (local.get $a) (local.get $threshold))
      (then (global.set $ties (i32.sub (global.get $ties) (i32.const 1)))))
    (i32.store (local.get $p) (i32.const 0))
    (global.set $pruned (i32.add (global.get $pruned) (i32.const 1)))
    (if (i32.gt_u (local.get $a) (global.get $maxPruned)) (then (global.set $maxPruned (local.get $a))))
    (i32.const 0))

  ;; Weights [0, count) of one 32-weight group through $maskOne; returns the keep bits.
  (func $maskScalar (param $src i32) (param $count i32) (param $threshold i32) (result i32)
    (local $j i32) (local $word i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $count)))
        (local.set $word (i32.or (local.get $word)
          (i32.shl (call $maskOne (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2))) (local.get $threshold)) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))
    (local.get $word))

  ;; The largest of four unsigned lanes.
  (func $lanesMax (param $v v128) (result i32)
    (local.set $v (i32x4.max_u (local.get $v) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
    (local.set $v (i32x4.max_u (local.get $v) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v))))
    (i32x4.extract_lane 0 (local.get $v)))

  ;; Prunes n weights at src in place against `threshold` (a |w| key) and the tie budget set by
  ;; resetStats, writing one keep bit per weight to `mask` (32 to a little-endian word, so
  ;; byte i holds weights 8i..8i+7, least significant bit first: the Bitmask layout).
  ;; Groups of 32 with no weight equal to the threshold go through SIMD, branch-free: at 50%
  ;; sparsity "below the threshold?" is a coin flip no branch predictor wins. A group holding a
  ;; tie goes through the ordered scalar path.
  (func (export "maskAbs") (param $src i32) (param $n i32) (param $threshold i32) (param $mask i32)
    (local $end i32) (local $v i32) (local $word i32) (local $x v128) (local $a v128) (local $keep v128)
    (local $eq v128) (local $abs v128) (local $t v128) (local $max v128)
    (local.set $abs (i32x4.splat (i32.const 0x7fffffff)))
    (local.set $t (i32x4.splat (local.get $threshold)))
    (local.set $max (i32x4.splat (global.get $maxPruned)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -32)) (i32.const 2))))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; Any weight of the group equal to the threshold?
        (local.set $eq (v128.const i32x4 0 0 0 0))
        (local.set $v (i32.const 0))
        (loop $check
          (local.set $eq (v128.or (local.get $eq)
            (i32x4.eq (v128.and (v128.load (i32.add (local.get $src) (local.get $v))) (local.get $abs)) (local.get $t))))
          (local.set $v (i32.add (local.get $v) (i32.const 16)))
          (br_if $check (i32.lt_u (local.get $v) (i32.const 128))))
        (if (v128.any_true (local.get $eq))
          (then
            (global.set $maxPruned (call $lanesMax (local.get $max)))
            (local.set $word (call $maskScalar (local.get $src) (i32.const 32) (local.get $threshold)))
            (local.set $max (i32x4.splat (global.get $maxPruned))))
          (else
            (local.set $word (i32.const 0))
            (local.set $v (i32.const 0))
            (loop $vector
              (local.set $x (v128.load (i32.add (local.get $src) (local.get $v))))
              (local.set $a (v128.and (local.get $x) (local.get $abs)))
              (local.set $keep (i32x4.gt_u (local.get $a) (local.get $t)))
              (v128.store (i32.add (local.get $src) (local.get $v)) (v128.and (local.get $x) (local.get $keep)))
              (local.set $max (i32x4.max_u (local.get $max) (v128.andnot (local.get $a) (local.get $keep))))
              ;; 4 keep bits for weights v/4 .. v/4+3: shift by v/4 = (v >>> 2)
              (local.set $word (i32.or (local.get $word) (i32.shl (i32x4.bitmask (local.get $keep)) (i32.shr_u (local.get $v) (i32.const 2)))))
              (local.set $v (i32.add (local.get $v) (i32.const 16)))
              (br_if $vector (i32.lt_u (local.get $v) (i32.const 128))))
            ;; Kept weights are above the threshold, so never zero: only pruned ones to count.
            (global.set $pruned (i32.add (global.get $pruned) (i32.sub (i32.const 32) (i32.popcnt (local.get $word)))))))
        (i32.store (local.get $mask) (local.get $word))
        (local.set $mask (i32.add (local.get $mask) (i32.const 4)))
        (local.set $src (i32.add (local.get $src) (i32.const 128)))
        (br $group)))
    (global.set $maxPruned (call $lanesMax (local.get $max)))
    ;; The last, partial group: its unused bits stay zero, as Bitmask requires.
    (if (i32.and (local.get $n) (i32.const 31))
      (then (i32.store (local.get $mask) (call $maskScalar (local.get $src) (i32.and (local.get $n) (i32.const 31)) (local.get $threshold))))))
)
