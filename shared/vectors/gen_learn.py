"""Golden vectors for on-device read-out learning (learn.h RF-A1-RF-E1): learn.json.

Like generate.py, an independent exact reference in Python integers only
(no numpy, no phyff package, no C), written from learn.h's prose; its
images come from generate.py's model helpers. generate.py writes and checks
learn.json with the other files.

Groups:
    constants    the PHYFF_LEARN_* numbers
    area_size    RF-M1: bytes of the statistics of (width, n_classes)
    feature      RF-A1: the read-out feature of a block output value
    learn_add    RF-A2-A4: statuses of a run of samples and the area after
                 them (int32 and uint16 little-endian: the byte order of the
                 machines the vectors are checked on)
    refit        RF-S1-Q5, RF-E1: image + samples + lambda_shift -> status,
                 the image after the refit (unchanged when refused) and the
                 conditioning figure
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import generate as gen

FEATURE_SHIFT = 4
MAX_SAMPLES = 511
MAX_WIDTH = 127
Q = 24
RESCALE = 8
RETRIES = 2
MAX_LAMBDA_SHIFT = 60
STATUS = {"OK": 0, "FULL": 1, "BAD_LABEL": 2, "TOO_FEW": 3, "TOO_WIDE": 4, "BAD_LAMBDA": 5,
          "SINGULAR": 6, "OVERFLOW": 7, "NO_READOUT": 8}


class Refused(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def round_shift(v: int, s: int) -> int:
    """fixed.h FX-F3; s > 62 gives 0 (learn.h notation)."""
    if s == 0:
        return v
    if s > 62:
        return 0
    return (v + (1 << (s - 1))) >> s


def scale(v: int, s: int) -> int:
    return v << s if s >= 0 else round_shift(v, -s)


def div_round(a: int, d: int) -> int:
    return (2 * a + d) // (2 * d)


def clog2(m: int) -> int:
    return (m - 1).bit_length()


def feature(y: int, readout_abs: bool) -> int:
    """RF-A1."""
    return min(abs(y), 32767) if readout_abs else y


class Stats:
    """RF-A3 in Python integers: G (upper triangle as a dict-free full matrix), S, counts."""

    def __init__(self, width: int, n_classes: int) -> None:
        self.width, self.n_classes = width, n_classes
        n = width + 1
        self.g = [[0] * n for _ in range(n)]
        self.s = [[0] * width for _ in range(n_classes)]
        self.count = [0] * n_classes

    def add(self, f: list[int], label: int) -> str:
        if not 0 <= label < self.n_classes:
            return "BAD_LABEL"
        if self.g[-1][-1] >= MAX_SAMPLES:
            return "FULL"
        g = [round_shift(v, FEATURE_SHIFT) for v in f] + [1]
        for i in range(len(g)):
            for j in range(i, len(g)):
                self.g[i][j] += g[i] * g[j]
        for i in range(self.width):
            self.s[label][i] += g[i]
        self.count[label] += 1
        return "OK"

    def area(self) -> bytes:
        """RF-M1, little-endian."""
        n = self.width + 1
        out = bytearray()
        for i in range(n):
            for j in range(i, n):
                out += (self.g[i][j] & 0xFFFFFFFF).to_bytes(4, "little")
        for c in range(self.n_classes):
            for i in range(self.width):
                out += (self.s[c][i] & 0xFFFFFF).to_bytes(3, "little")
        for c in range(self.n_classes):
            out += self.count[c].to_bytes(2, "little")
        return bytes(out)


def area_size(width: int, n_classes: int) -> int:
    n = width + 1
    return 4 * n * (n + 1) // 2 + 3 * n_classes * width + 2 * n_classes


def refit(model: dict[str, Any], st: Stats, lam: int) -> tuple[dict[str, Any], int, int]:
    """RF-S1-Q5: (the model with its new read-out, conditioning figure, rescales) or Refused."""
    head = model["head"]
    if head["inference"] != gen.INFERENCE["ONEPASS"]:
        raise Refused("NO_READOUT")
    blocks = model["blocks"]
    width = sum(b["head"]["d_out"] for b in blocks)
    n_classes = head["n_classes"]
    if not 1 <= width <= MAX_WIDTH:
        raise Refused("TOO_WIDE")
    if st.g[-1][-1] < 2 or min(st.count) < 1:
        raise Refused("TOO_FEW")
    if lam > MAX_LAMBDA_SHIFT or any(53 - 2 * b["head"]["out_exp"] - lam > 61 for b in blocks):
        raise Refused("BAD_LAMBDA")
    n = width + 1
    penalty = []
    for b in blocks:
        penalty += [53 - 2 * b["head"]["out_exp"] - lam] * b["head"]["d_out"]
    penalty.append(-1)
    # RF-S2 (symmetric full matrix from the upper triangle)
    abar = [[st.g[min(i, j)][max(i, j)] << 31 for j in range(n)] for i in range(n)]
    for i in range(width):
        if penalty[i] >= 0:
            abar[i][i] += 1 << penalty[i]
    if any(abar[i][i] == 0 for i in range(n)):
        raise Refused("SINGULAR")
    u = [math.ceil((abar[i][i].bit_length() - Q) / 2) for i in range(n)]
    a = [[scale(abar[i][j], -(u[i] + u[j])) for j in range(n)] for i in range(n)]
    # RF-S4
    low = [[0] * n for _ in range(n)]
    pivots = []
    for j in range(n):
        d = (a[j][j] << Q) - sum(low[j][k] ** 2 for k in range(j))
        if d < (1 << Q):
            raise Refused("SINGULAR")
        pivots.append(d)
        low[j][j] = math.isqrt(d)
        for i in range(j + 1, n):
            v = div_round((a[i][j] << Q) - sum(low[i][k] * low[j][k] for k in range(j)),
                          low[j][j])
            if abs(v) > 1 << Q:
                raise Refused("OVERFLOW")
            low[i][j] = v
    cond = max(pivots).bit_length() - min(pivots).bit_length()
    # RF-S5
    limit = (1 << 31) - 1
    ws, rs = [], []
    rescales = 0
    for c in range(n_classes):
        rhs = st.s[c] + [st.count[c]]
        r = max(abs(b).bit_length() + 31 - u[i] for i, b in enumerate(rhs) if b) - Q
        for _ in range(RETRIES + 1):
            y: list[int] = []
            for i in range(n):
                num = (scale(rhs[i], 31 - u[i] - r) << Q) - sum(low[i][k] * y[k]
                                                                for k in range(i))
                y.append(div_round(num, low[i][i]))
                if abs(y[-1]) > limit:
                    break
            w = [0] * n
            ok = len(y) == n and abs(y[-1]) <= limit
            for i in range(n - 1, -1, -1) if ok else ():
                w[i] = div_round((y[i] << Q) - sum(low[k][i] * w[k] for k in range(i + 1, n)),
                                 low[i][i])
                if abs(w[i]) > limit:
                    ok = False
                    break
            if ok:
                break
            r += RESCALE
            rescales += 1
        else:
            raise Refused("OVERFLOW")
        ws.append(w)
        rs.append(r)
    # RF-Q1-Q3
    u_s = head["score_exp"] - 31
    units, col, segs = [], 0, []
    for b in blocks:
        d = b["head"]["d_out"]
        segs.append(range(col, col + d))
        exps = [rs[c] - u[i] - Q - FEATURE_SHIFT + clog2(abs(ws[c][i]))
                for c in range(n_classes) for i in range(col, col + d) if ws[c][i]]
        units.append(max(exps) - 15 if exps else u_s)
        col += d
    top = max(units)
    units = [max(x, top - 16) for x in units]
    unit = min(units)
    score_exp = head["score_exp"]
    if unit > u_s:
        score_exp, u_s = unit + 31, unit
        if score_exp > 32:
            raise Refused("OVERFLOW")
    if u_s - unit > 62:
        raise Refused("OVERFLOW")
    beta = max([unit + 15] + [rs[c] - u[width] - Q + clog2(abs(ws[c][width]))
                              for c in range(n_classes) if ws[c][width]])
    if beta - 15 - unit > 40:
        raise Refused("OVERFLOW")
    # RF-Q4-Q5
    out = copy.deepcopy(model)
    out["head"]["score_exp"] = score_exp
    for b, x in zip(out["blocks"], units, strict=True):
        b["head"]["readout_shift"] = x - unit
    ro = out["readout"]
    ro["head"]["shift_b"] = beta - 15 - unit
    ro["head"]["shift_out"] = u_s - unit
    ro["head"]["refit_samples"] = st.g[-1][-1]  # RF-Q5: N, the samples solved
    for c in range(n_classes):
        for seg, x in zip(segs, units, strict=True):
            for i in seg:
                ro["R"][c][i] = max(-32768, min(32767, scale(
                    ws[c][i], rs[c] - u[i] - Q - FEATURE_SHIFT - x)))
        ro["rb"][c] = max(-32768, min(32767, scale(ws[c][width],
                                                   rs[c] - u[width] - Q + 15 - beta)))
    return out, cond, rescales


# ---- cases --------------------------------------------------------------------

def clustered(rng: random.Random, n: int, width: int, n_classes: int, signed: bool,
              noise: int) -> list[tuple[list[int], int]]:
    """Samples whose features depend on the class (centre) plus uniform noise."""
    centres = [[gen.randint(rng, 500, 20000) for _ in range(width)] for _ in range(n_classes)]
    out = []
    for k in range(n):
        label = k % n_classes
        f = [max(0, min(32767, c + gen.randint(rng, -noise, noise))) for c in centres[label]]
        if signed:
            f = [v if gen.randint(rng, 0, 1) else -v for v in f]
        out.append((f, label))
    return out


def collinear(rng: random.Random) -> list[tuple[list[int], int]]:
    """40 samples of 6 features spanning about 2 directions plus read noise."""
    base = [gen.randint(rng, 1000, 20000) for _ in range(3)]
    out = []
    for k in range(40):
        t = gen.randint(rng, -300, 300)
        f = [b + t + gen.randint(rng, -2, 2) for b in base]
        f += [base[0] + 2 * t + gen.randint(rng, -2, 2), base[1] - t,
              5000 + gen.randint(rng, -1, 1)]
        out.append((f, k % 2))
    return out


def refit_case(model: dict[str, Any], samples: list[tuple[list[int], int]], lam: int,
               why: str) -> dict[str, Any]:
    head = model["head"]
    width = sum(b["head"]["d_out"] for b in model["blocks"])
    st = Stats(width, head["n_classes"])
    for f, label in samples:
        assert st.add(f, label) == "OK"
    image = gen.image_pack(model)
    inp = {"image": gen.hx(image), "limits": gen.LIMITS, "lambda_shift": lam,
           "features": [f for f, _ in samples], "labels": [lb for _, lb in samples], "why": why}
    try:
        new, cond, rescales = refit(model, st, lam)
        inp["why"] += f" ({rescales} rescales)"
        return {"in": inp, "out": {"status": "OK", "image": gen.hx(gen.image_pack(new)),
                                   "cond_bits": cond}}
    except Refused as refused:
        return {"in": inp, "out": {"status": refused.status, "image": gen.hx(image),
                                   "cond_bits": 0}}


def onepass(rng: random.Random, d_outs: list[int], out_exps: list[int], n_classes: int,
            readout_abs: int, score_exp: int) -> dict[str, Any]:
    P, S = gen.BLOCK_FLAG["PHYSICAL"], gen.BLOCK_FLAG["SKIP"]
    return gen.make_model(rng, inference="ONEPASS", n_features=3, n_classes=n_classes,
                          readout_abs=readout_abs, score_exp=score_exp, blocks=[
                              {"encoder": "AMPLITUDE", "flags": P | S, "n_sense": 4,
                               "d_out": d, "out_exp": e} for d, e in zip(d_outs, out_exps,
                                                                          strict=True)])


def gen_learn() -> dict[str, Any]:
    g: dict[str, Any] = {}
    consts = {"LEARN_FEATURE_SHIFT": FEATURE_SHIFT, "LEARN_MAX_SAMPLES": MAX_SAMPLES,
              "LEARN_MAX_WIDTH": MAX_WIDTH, "LEARN_Q": Q, "LEARN_RESCALE": RESCALE,
              "LEARN_RETRIES": RETRIES, "LEARN_MAX_LAMBDA_SHIFT": MAX_LAMBDA_SHIFT}
    g["constants"] = [{"in": k, "out": v} for k, v in consts.items()]
    g["area_size"] = [{"in": {"width": w, "n_classes": c}, "out": area_size(w, c)}
                      for w, c in ((1, 2), (40, 7), (127, 2), (6, 32))]
    g["feature"] = [{"in": {"y": y, "abs": a}, "out": feature(y, bool(a))}
                    for y in (-32768, -32767, -1, 0, 1, 32767) for a in (0, 1)]
    rng = gen.rng_for("learn_add")
    adds = []
    for width, n_classes, n in ((3, 2, 6), (5, 4, 20), (2, 3, 4)):
        st = Stats(width, n_classes)
        feats, labels, statuses = [], [], []
        for k in range(n):
            f = [gen.randint(rng, -32768, 32767) for _ in range(width)]
            label = n_classes + k % 3 if k % 5 == 4 else k % n_classes
            feats.append(f)
            labels.append(label)
            statuses.append(st.add(f, label))
        # RF-A2 rounding ties in both signs
        for f in ([8, -8, 24] + [0] * (width - 3), [7, -9, -24] + [0] * (width - 3)):
            if len(f) == width:
                feats.append(f)
                labels.append(0)
                statuses.append(st.add(f, 0))
        adds.append({"in": {"width": width, "n_classes": n_classes, "features": feats,
                            "labels": labels},
                     "out": {"statuses": statuses, "area": gen.hx(st.area()),
                             "samples": st.g[-1][-1]}})
    st = Stats(1, 2)  # the cap: 511 samples, then FULL
    statuses = [st.add([32767], k % 2) for k in range(MAX_SAMPLES + 1)]
    adds.append({"in": {"width": 1, "n_classes": 2, "features": [[32767]] * (MAX_SAMPLES + 1),
                        "labels": [k % 2 for k in range(MAX_SAMPLES + 1)]},
                 "out": {"statuses": statuses, "area": gen.hx(st.area()),
                         "samples": MAX_SAMPLES}})
    g["learn_add"] = adds
    rng = gen.rng_for("refit")
    cases = []
    for k, (d_outs, exps, c, ab, se, n, lam, noise) in enumerate((
            ([4, 3], [1, 2], 3, 1, 2, 30, 10, 3000),
            ([6], [0], 2, 0, -3, 12, 6, 6000),
            ([3, 2, 4], [-2, 0, 3], 4, 1, 5, 60, 14, 2000),
            ([5], [2], 3, 1, 0, 40, 0, 500),
            ([8], [1], 5, 0, 3, 25, 20, 8000),
            ([2, 2], [0, 0], 2, 1, -8, 200, 8, 10000))):
        model = onepass(rng, d_outs, exps, c, ab, se)
        cases.append(refit_case(model, clustered(rng, n, sum(d_outs), c, not ab, noise), lam,
                                f"clustered {k}"))
    model = onepass(rng, [4], [1], 3, 1, 2)
    samples = clustered(rng, 9, 4, 3, False, 1000)
    cases.append(refit_case(model, [s for s in samples if s[1] != 1], 10,
                            "a class without samples: TOO_FEW"))
    cases.append(refit_case(model, samples[:1], 10, "one sample: TOO_FEW"))
    cases.append(refit_case(model, samples, 61, "lambda_shift 61: BAD_LAMBDA"))
    cases.append(refit_case(onepass(rng, [4], [-5], 3, 1, 2), samples, 0,
                            "2^0 on a block of exponent -5 (p = 63): BAD_LAMBDA"))
    cases.append(refit_case(model, [([0, 5000, 100, 7], lb) for _, lb in samples], 60,
                            "a feature always 0, no penalty at that scale: SINGULAR"))
    cases.append(refit_case(onepass(rng, [12], [0], 3, 1, 2),
                            clustered(rng, 6, 12, 3, False, 100), 40,
                            "6 samples, 13 unknowns, lambda 2^-40: SINGULAR"))
    for lam in (18, 22, 30, 60):  # nearly collinear features: RF-S5's rescaling, refusals
        cases.append(refit_case(onepass(rng, [6], [0], 2, 1, 2), collinear(rng), lam,
                                f"nearly collinear, lambda 2^-{lam}"))
    cases.append(refit_case(onepass(rng, [3], [0], 2, 1, -30),
                            [([gen.randint(rng, 0, 7) for _ in range(3)], k % 2)
                             for k in range(10)], 10,
                            "features below 8 reduce to 0, score_exp -30: shift_b > 40, "
                            "OVERFLOW"))
    goodness = gen.make_model(rng, inference="GOODNESS", n_features=3, n_classes=2,
                              score_exp=16, blocks=[{"encoder": "AMPLITUDE", "d_out": 3}])
    cases.append(refit_case(goodness, [([100, 200, 300], 0), ([300, 100, 200], 1)], 10,
                            "a goodness model: NO_READOUT"))
    g["refit"] = cases
    return g
