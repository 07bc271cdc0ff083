"""numpy reference for bench/run.ts: the same workloads written as a numpy user would (float32,
BLAS GEMMs for the products, vectorized element-wise code), timed with the same protocol (median of
repeated runs after warm-up). bench/run.ts runs it once per thread count with OPENBLAS_NUM_THREADS
(and OMP/MKL) set, and reads one JSON object per line from stdout:
  {"numpy": "2.4.6", "blas": "scipy-openblas 0.3.31..."}
  {"workload": "W1", "ms": 44.1}
Usage: python3 bench/numpy_ref.py [--quick] [--only W1,W5v]
"""
import json
import sys
import time

import numpy as np

QUICK = "--quick" in sys.argv
ONLY = None
for i, a in enumerate(sys.argv):
    if a.startswith("--only"):
        ONLY = (a.split("=", 1)[1] if "=" in a else sys.argv[i + 1]).split(",")

rng = np.random.default_rng(1)


def rand(*shape, scale=0.1):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- LSTM ----

def lstm_forward(x, wih, whh, b, h, c, keep):
    T, B, D = x.shape
    H = h.shape[1]
    gx = (x.reshape(T * B, D) @ wih.T + b).reshape(T, B, 4 * H)
    whh_t = np.ascontiguousarray(whh.T)
    ys = np.empty((T, B, H), np.float32)
    cache = []
    for t in range(T):
        g = gx[t] + h @ whh_t
        i, f, gg, o = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
        c_prev, h_prev = c, h
        c = f * c + i * gg
        tc = np.tanh(c)
        h = o * tc
        ys[t] = h
        if keep:
            cache.append((h_prev, c_prev, i, f, gg, o, tc))
    return ys, h, c, cache


def lstm_backward(x, wih, whh, cache, dy):
    T, B, D = x.shape
    H = whh.shape[1]
    dG = np.empty((T, B, 4 * H), np.float32)
    hprev = np.empty((T, B, H), np.float32)
    dh = np.zeros((B, H), np.float32)
    dc = np.zeros((B, H), np.float32)
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, gg, o, tc = cache[t]
        hprev[t] = h_prev
        d = dy[t] + dh
        do = d * tc
        dct = dc + d * o * (1 - tc * tc)
        g = dG[t]
        g[:, :H] = dct * gg * i * (1 - i)
        g[:, H:2 * H] = dct * c_prev * f * (1 - f)
        g[:, 2 * H:3 * H] = dct * i * (1 - gg * gg)
        g[:, 3 * H:] = do * o * (1 - o)
        dc = dct * f
        dh = g @ whh
    g2 = dG.reshape(T * B, 4 * H)
    dwih = g2.T @ x.reshape(T * B, D)
    dwhh = g2.T @ hprev.reshape(T * B, H)
    dx = g2 @ wih
    db = g2.sum(0)
    return dx, dwih, dwhh, db


# ---- GRU (reset after, PyTorch) ----

def gru_forward(x, wih, whh, bih, bhh, h, keep):
    T, B, D = x.shape
    H = h.shape[1]
    gx = (x.reshape(T * B, D) @ wih.T + bih).reshape(T, B, 3 * H)
    whh_t = np.ascontiguousarray(whh.T)
    cache = []
    ys = np.empty((T, B, H), np.float32)
    for t in range(T):
        gh = h @ whh_t + bhh
        r = sigmoid(gx[t][:, :H] + gh[:, :H])
        z = sigmoid(gx[t][:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[t][:, 2 * H:] + r * gh[:, 2 * H:])
        h_prev = h
        h = (1 - z) * n + z * h
        ys[t] = h
        if keep:
            cache.append((h_prev, r, z, n, gh[:, 2 * H:]))
    return ys, h, cache


def gru_backward(x, wih, whh, cache, dy):
    T, B, D = x.shape
    H = whh.shape[1]
    dGx = np.empty((T, B, 3 * H), np.float32)
    dGh = np.empty((T, B, 3 * H), np.float32)
    hprev = np.empty((T, B, H), np.float32)
    dh = np.zeros((B, H), np.float32)
    for t in reversed(range(T)):
        h_prev, r, z, n, hn = cache[t]
        hprev[t] = h_prev
        d = dy[t] + dh
        dn = d * (1 - z) * (1 - n * n)
        dz = d * (h_prev - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dGx[t][:, :H], dGx[t][:, H:2 * H], dGx[t][:, 2 * H:] = dr, dz, dn
        dGh[t][:, :H], dGh[t][:, H:2 * H], dGh[t][:, 2 * H:] = dr, dz, r * dn
        dh = d * z + dGh[t] @ whh
    gx2, gh2 = dGx.reshape(T * B, 3 * H), dGh.reshape(T * B, 3 * H)
    return gx2 @ wih, gx2.T @ x.reshape(T * B, D), gh2.T @ hprev.reshape(T * B, H), gx2.sum(0), gh2.sum(0)


def lstm_workload(T, B, D, H, train):
    x, wih, whh, b = rand(T, B, D, scale=1.0), rand(4 * H, D), rand(4 * H, H), rand(4 * H)
    h0, c0, dy = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32), rand(T, B, H, scale=1.0)

    def run():
        _, _, _, cache = lstm_forward(x, wih, whh, b, h0, c0, train)
        if train:
            lstm_backward(x, wih, whh, cache, dy)
    return run


def gru_workload(T, B, D, H):
    x, wih, whh, bih, bhh = rand(T, B, D, scale=1.0), rand(3 * H, D), rand(3 * H, H), rand(3 * H), rand(3 * H)
    h0, dy = np.zeros((B, H), np.float32), rand(T, B, H, scale=1.0)

    def run():
        _, _, cache = gru_forward(x, wih, whh, bih, bhh, h0, True)
        gru_backward(x, wih, whh, cache, dy)
    return run


def step_workload(B, D, H, V, k):
    x, wih, whh, b = rand(B, D, scale=1.0), rand(4 * H, D), rand(4 * H, H), rand(4 * H)
    h, c = rand(B, H, scale=1.0), rand(B, H, scale=1.0)
    wih_t, whh_t = np.ascontiguousarray(wih.T), np.ascontiguousarray(whh.T)
    wout_t, bout = np.ascontiguousarray(rand(V, H).T), rand(V)

    def run():
        g = x @ wih_t + h @ whh_t + b
        i, f, gg, o = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
        c2 = f * c + i * gg
        h2 = o * np.tanh(c2)
        if V:
            logits = h2 @ wout_t + bout
            m = logits.max(axis=1, keepdims=True)
            logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
            top = np.argpartition(-logp, k, axis=1)[:, :k]
            vals = np.take_along_axis(logp, top, axis=1)
            order = np.argsort(-vals, axis=1)
            np.take_along_axis(top, order, axis=1)
    return run


WORKLOADS = {
    "W1": lambda: lstm_workload(64, 32, 128, 256, True),
    "W1f": lambda: lstm_workload(64, 32, 128, 256, False),
    "W2": lambda: gru_workload(64, 32, 128, 256),
    "W3": lambda: lstm_workload(64, 1, 128, 256, False),
    "W4": lambda: lstm_workload(64, 64, 128, 256, False),
    "W5": lambda: step_workload(5, 256, 512, 0, 0),
    "W5v": lambda: step_workload(5, 256, 512, 8000, 5),
}


def median_ms(fn, reps, budget_s):
    for _ in range(3):
        fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < reps and (len(ts) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    n = len(ts)
    return ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2


def blas_name():
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown"


print(json.dumps({"numpy": np.__version__, "blas": blas_name()}), flush=True)
for name, make in WORKLOADS.items():
    if ONLY and name not in ONLY:
        continue
    ms = median_ms(make(), 11 if QUICK else 51, 2.0 if QUICK else 8.0)
    print(json.dumps({"workload": name, "ms": round(ms, 4)}), flush=True)
