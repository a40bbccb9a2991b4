;; SparseGPT's in-block OBS sweep (src/prune/calibrated/sweep-kernel.ts), float32, 128-bit SIMD.
;;
;; Why WebAssembly: within a block of B rows the sweep is a chain of rank-1 updates (each row's
;; error must be known before the next row is pruned), so it cannot be one matrix product; the
;; lazy update of the rows past the block is one, and runs in onnxruntime. In plain JS the
;; chain runs at about 1 GFLOP/s; here four error rows are folded into each pass over a row.
;;
;; Layout (byte addresses into the imported memory, all 16-byte aligned):
;;   w  [b, ld] f32  the block's weights; swept rows are left holding their kept values (q)
;;   u  [b, b]  f32  the block of the upper factor U of H^-1 (row-major)
;;   m  [b, ld] f32  1 where the weight is kept, 0 where pruned
;;   e  [b, ld] f32  out: the error rows (w - q) / U[i, i]
;; `ld` is a multiple of 4; padding columns hold zeros and stay zero. A short last quad reads
;; (and discards) U entries up to 3 rows past the block: the caller places u before the other
;; arrays so those reads stay inside the memory.
;;
;; Build: `npm run build:kernels` (wabt) writes sweep.wasm next to this file; a test checks
;; that the committed binary is this source's.
(module
  (memory (import "env" "memory") 1)

  ;; dst[o] -= f0 a[o] + f1 b[o] + f2 c[o] + f3 d[o] for the `bytes` / 4 floats of a row.
  (func $update (param $dst i32) (param $a i32) (param $b i32) (param $c i32) (param $d i32)
                (param $f0 f32) (param $f1 f32) (param $f2 f32) (param $f3 f32) (param $bytes i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $end i32)
    (local.set $v0 (f32x4.splat (local.get $f0)))
    (local.set $v1 (f32x4.splat (local.get $f1)))
    (local.set $v2 (f32x4.splat (local.get $f2)))
    (local.set $v3 (f32x4.splat (local.get $f3)))
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (f32x4.sub (v128.load (local.get $dst))
            (f32x4.add
              (f32x4.add (f32x4.mul (local.get $v0) (v128.load (local.get $a))) (f32x4.mul (local.get $v1) (v128.load (local.get $b))))
              (f32x4.add (f32x4.mul (local.get $v2) (v128.load (local.get $c))) (f32x4.mul (local.get $v3) (v128.load (local.get $d)))))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (br $next))))

  ;; U[i, j] of the b x b block.
  (func $u (param $u i32) (param $b i32) (param $i i32) (param $j i32) (result f32)
    (f32.load (i32.add (local.get $u) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $b)) (local.get $j)) (i32.const 2)))))

  ;; Sweeps rows [from, to) of the block: each row's error e = (w - q) / U[i, i] with
  ;; q = w * m, the row set to q, and every later row r of the block (to b, not only to `to`)
  ;; updated by w[r] -= U[i, r] e. Rows go four at a time: the four are finished among
  ;; themselves first, then each later row takes all four errors in one pass.
  (func (export "sweep") (param $w i32) (param $u i32) (param $m i32) (param $e i32)
                         (param $b i32) (param $ld i32) (param $from i32) (param $to i32)
    (local $row i32) (local $i0 i32) (local $q i32) (local $j i32) (local $i i32) (local $r i32)
    (local $o i32) (local $p i32) (local $dv v128) (local $wv v128) (local $qv v128)
    (local $e1 i32) (local $e2 i32) (local $e3 i32) (local $ei i32)
    (local.set $row (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $i0 (local.get $from))
    (block $swept
      (loop $quad
        (br_if $swept (i32.ge_u (local.get $i0) (local.get $to)))
        (local.set $q (i32.sub (local.get $to) (local.get $i0)))
        (if (i32.gt_u (local.get $q) (i32.const 4)) (then (local.set $q (i32.const 4))))
        ;; The quad's own rows, one after another.
        (local.set $j (i32.const 0))
        (block $rows
          (loop $nextRow
            (br_if $rows (i32.ge_u (local.get $j) (local.get $q)))
            (local.set $i (i32.add (local.get $i0) (local.get $j)))
            (local.set $dv (f32x4.splat (call $u (local.get $u) (local.get $b) (local.get $i) (local.get $i))))
            (local.set $o (i32.mul (local.get $i) (local.get $row)))
            (local.set $p (i32.add (local.get $o) (local.get $row)))
            (block $cols
              (loop $nextCol
                (br_if $cols (i32.ge_u (local.get $o) (local.get $p)))
                (local.set $wv (v128.load (i32.add (local.get $w) (local.get $o))))
                (local.set $qv (f32x4.mul (local.get $wv) (v128.load (i32.add (local.get $m) (local.get $o)))))
                (v128.store (i32.add (local.get $e) (local.get $o)) (f32x4.div (f32x4.sub (local.get $wv) (local.get $qv)) (local.get $dv)))
                (v128.store (i32.add (local.get $w) (local.get $o)) (local.get $qv))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (br $nextCol)))
            (local.set $ei (i32.add (local.get $e) (i32.mul (local.get $i) (local.get $row))))
            (local.set $r (i32.add (local.get $i) (i32.const 1)))
            (block $inQuad
              (loop $nextIn
                (br_if $inQuad (i32.ge_u (local.get $r) (i32.add (local.get $i0) (local.get $q))))
                (call $update (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $row)))
                  (local.get $ei) (local.get $ei) (local.get $ei) (local.get $ei)
                  (call $u (local.get $u) (local.get $b) (local.get $i) (local.get $r)) (f32.const 0) (f32.const 0) (f32.const 0)
                  (local.get $row))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $nextIn)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $nextRow)))
        ;; Every later row of the block takes the quad's errors at once. Missing rows of a
        ;; short quad point at its first error row with a zero factor.
        (local.set $ei (i32.add (local.get $e) (i32.mul (local.get $i0) (local.get $row))))
        (local.set $e1 (select (i32.add (local.get $ei) (local.get $row)) (local.get $ei) (i32.gt_u (local.get $q) (i32.const 1))))
        (local.set $e2 (select (i32.add (local.get $ei) (i32.shl (local.get $row) (i32.const 1))) (local.get $ei) (i32.gt_u (local.get $q) (i32.const 2))))
        (local.set $e3 (select (i32.add (local.get $ei) (i32.mul (local.get $row) (i32.const 3))) (local.get $ei) (i32.gt_u (local.get $q) (i32.const 3))))
        (local.set $r (i32.add (local.get $i0) (local.get $q)))
        (block $later
          (loop $nextLater
            (br_if $later (i32.ge_u (local.get $r) (local.get $b)))
            (call $update (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $row)))
              (local.get $ei) (local.get $e1) (local.get $e2) (local.get $e3)
              (call $u (local.get $u) (local.get $b) (local.get $i0) (local.get $r))
              (select (call $u (local.get $u) (local.get $b) (i32.add (local.get $i0) (i32.const 1)) (local.get $r)) (f32.const 0) (i32.gt_u (local.get $q) (i32.const 1)))
              (select (call $u (local.get $u) (local.get $b) (i32.add (local.get $i0) (i32.const 2)) (local.get $r)) (f32.const 0) (i32.gt_u (local.get $q) (i32.const 2)))
              (select (call $u (local.get $u) (local.get $b) (i32.add (local.get $i0) (i32.const 3)) (local.get $r)) (f32.const 0) (i32.gt_u (local.get $q) (i32.const 3)))
              (local.get $row))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $nextLater)))
        (local.set $i0 (i32.add (local.get $i0) (local.get $q)))
        (br $quad))))
)
