#!/usr/bin/env python3
"""Writes test/fixtures/torch-attention.safetensors: the fused attention decoder of lib/ops/attention.ts
built from PyTorch pieces (an nn.LSTMCell / GRUCell / RNNCell stack, the attention math written in
torch: Luong dot, general, concat, Bahdanau additive, with source masks and Luong input feeding), its
outputs (y, attention, hN, cN) and the gradients of the loss sum(y * dy) + sum(hN * dhN) + sum(cN * dcN)
with respect to every input and weight, for a few cases of awkward sizes (T=5, B=3, S=7, D=4, E=6,
H=5, A=9, L=2, source lengths [7, 3, 5]; E = H = 5 for dot). Computed in float64 from inputs rounded
to float32, stored as float32, so that test/ops/attention.test.ts checks the twin against PyTorch.

    /usr/bin/python3 scripts/attention-fixture.py      # needs torch (Debian: apt-get install python3-torch)

Names: '<case>.<tensor>', e.g. '0.x', '0.layers.1.weightIh', '0.attn.v', '0.dLayers.0.dBiasHh', '0.dAttn.dV'.
"""
import importlib.util
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('torch_fixture', os.path.join(HERE, 'torch-fixture.py'))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)  # only defines helpers: its main runs under __main__

T, B, S, D, H, A, L = 5, 3, 7, 4, 5, 9, 2
LENGTHS = [7, 3, 5]
# (cell, attention, inputFeed)
CASES = [
    ('lstm', 'dot', True),
    ('gru', 'general', True),
    ('rnn', 'concat', False),
    ('lstm', 'additive', True),
    ('gru', 'additive', False),
    ('lstm', 'concat', True),
    ('rnn', 'general', True),
]
CELLS = {'lstm': nn.LSTMCell, 'gru': nn.GRUCell, 'rnn': nn.RNNCell}
ATTN = {
    'dot': [],
    'general': ['weight'],
    'concat': ['weight', 'v'],
    'additive': ['queryWeight', 'queryBias', 'keyWeight', 'v'],
}


def rand(*shape, scale=1.0):
    """Uniform in [-scale, scale), rounded to float32, as a float64 leaf that needs its gradient."""
    return ((torch.rand(*shape, dtype=torch.float64) * 2 - 1) * scale).float().double().requires_grad_()


def decoder(cell, attention, feed_on, cells, x, memory, lengths, h0, c0, feed0, attn):
    """The decoder over T steps: returns y [T,B,H], attention [T,B,S], hN, cN [L,B,H] (cN None but lstm)."""
    E = memory.shape[2]
    h = [h0[l] for l in range(L)]
    c = [c0[l] for l in range(L)] if cell == 'lstm' else None
    feed = feed0
    mask = torch.arange(S)[None, :] >= torch.tensor(lengths)[:, None]  # [B, S]
    if attention == 'general':
        keys = memory @ attn['weight'].T  # [S, B, H]
    elif attention == 'concat':
        keys = memory @ attn['weight'][:, H:].T  # [S, B, A]
    elif attention == 'additive':
        keys = memory @ attn['keyWeight'].T
    ys, alphas = [], []
    for t in range(T):
        inp = torch.cat([x[t], feed], dim=1) if feed_on else x[t]
        for l in range(L):
            if cell == 'lstm':
                h[l], c[l] = cells[l](inp, (h[l], c[l]))
            else:
                h[l] = cells[l](inp, h[l])
            inp = h[l]
        q = h[L - 1]  # [B, H]
        if attention == 'dot':
            score = torch.einsum('bh,sbh->bs', q, memory)
        elif attention == 'general':
            score = torch.einsum('bh,sbh->bs', q, keys)
        else:
            if attention == 'concat':
                query = q @ attn['weight'][:, :H].T
            else:
                query = q @ attn['queryWeight'].T + attn['queryBias']
            score = (torch.tanh(query[None] + keys) @ attn['v']).T  # [B, S]
        alpha = torch.softmax(score.masked_fill(mask, float('-inf')), dim=1)
        ctx = torch.einsum('bs,sbe->be', alpha, memory)
        y = torch.tanh(torch.cat([ctx, q], dim=1) @ attn['outWeight'].T)
        feed = y
        ys.append(y)
        alphas.append(alpha)
    hN = torch.stack(h)
    cN = torch.stack(c) if cell == 'lstm' else None
    return torch.stack(ys), torch.stack(alphas), hN, cN


if __name__ == '__main__':
    torch.manual_seed(11)
    tensors = {}
    for k, (cell, attention, feed_on) in enumerate(CASES):
        E = H if attention == 'dot' else 6
        cells = []
        for l in range(L):
            inw = (D + (H if feed_on else 0)) if l == 0 else H
            m = CELLS[cell](inw, H).double()
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(((torch.rand(p.shape, dtype=torch.float64) * 2 - 1) * 0.5).float().double())
            cells.append(m)
        x = rand(T, B, D)
        memory = rand(S, B, E)
        h0 = rand(L, B, H, scale=0.5)
        c0 = rand(L, B, H, scale=0.5) if cell == 'lstm' else None
        feed0 = rand(B, H, scale=0.5)
        shapes = {
            'weight': (H, E) if attention == 'general' else (A, H + E),
            'queryWeight': (A, H),
            'queryBias': (A,),
            'keyWeight': (A, E),
            'v': (A,),
        }
        attn = {name: rand(*shapes[name], scale=0.5 if name != 'v' else 1.0) for name in ATTN[attention]}
        attn['outWeight'] = rand(H, E + H, scale=0.5)

        y, alpha, hN, cN = decoder(cell, attention, feed_on, cells, x, memory, LENGTHS, h0, c0, feed0, attn)
        dy = rand(T, B, H).detach()
        dhN = rand(L, B, H).detach()
        loss = (y * dy).sum() + (hN * dhN).sum()
        dcN = None
        if cN is not None:
            dcN = rand(L, B, H).detach()
            loss = loss + (cN * dcN).sum()
        loss.backward()

        case = {'x': x, 'memory': memory, 'h0': h0, 'feed0': feed0, 'dy': dy, 'dhN': dhN, 'y': y, 'attention': alpha, 'hN': hN}
        case.update({'dx': x.grad, 'dMemory': memory.grad, 'dh0': h0.grad, 'dFeed0': feed0.grad})
        if cell == 'lstm':
            case.update({'c0': c0, 'dcN': dcN, 'cN': cN, 'dc0': c0.grad})
        for l, m in enumerate(cells):
            for ours, theirs in [('weightIh', 'weight_ih'), ('weightHh', 'weight_hh'), ('biasIh', 'bias_ih'), ('biasHh', 'bias_hh')]:
                p = getattr(m, theirs)
                case[f'layers.{l}.{ours}'] = p
                case[f'dLayers.{l}.d{ours[0].upper()}{ours[1:]}'] = p.grad
        for name, p in attn.items():
            case[f'attn.{name}'] = p
            case[f'dAttn.d{name[0].upper()}{name[1:]}'] = p.grad
        for name, t in case.items():
            # without input feeding feed0 is unused: its gradient is zero (torch leaves it None)
            tensors[f'{k}.{name}'] = (torch.zeros_like(feed0) if t is None else t).detach().float()
        tensors[f'{k}.srcLengths'] = torch.tensor(LENGTHS, dtype=torch.int32)
    meta = {'torch': torch.__version__, 'sizes': repr({'T': T, 'B': B, 'S': S, 'D': D, 'H': H, 'A': A, 'L': L}), 'cases': repr(CASES)}
    path = os.path.join(HERE, '..', 'test', 'fixtures', 'torch-attention.safetensors')
    fixture.save(path, tensors, meta)
    print(f'wrote {len(tensors)} tensors for {len(CASES)} cases ({os.path.getsize(path)} bytes) with torch {torch.__version__}')
