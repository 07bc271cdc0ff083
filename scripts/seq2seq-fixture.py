#!/usr/bin/env python3
"""Writes test/fixtures/torch-seq2seq.safetensors: whole encoder-decoder models (lib/models/seq2seq.ts)
built from PyTorch modules (nn.Embedding, a packed nn.LSTM / nn.GRU encoder, the bridge, the attention
decoder of scripts/attention-fixture.py, nn.Linear generator), on one padded batch, with the mean
cross-entropy over the target steps (label smoothing as torch's `label_smoothing`) and the gradient of
every parameter. Computed in float64 from float32-rounded weights, stored as float32, so that
test/models/seq2seq-torch.test.ts checks gated's loss and every gradient against PyTorch.

    /usr/bin/python3 scripts/seq2seq-fixture.py      # needs torch (Debian: apt-get install python3-torch)

Names: '<case>.param.<gated parameter name>', '<case>.grad.<name>', '<case>.loss', and the batch:
'<case>.source' [S, B] int32, '<case>.sourceLengths', '<case>.target' (bos + target) [T, B],
'<case>.targetLengths', '<case>.classes' (target + eos) [T, B].
"""
import importlib.util
import os

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)  # only defines helpers: their mains run under __main__
    return m


fixture = load('torch_fixture', 'torch-fixture.py')
att = load('attention_fixture', 'attention-fixture.py')

VS, VT, BOS, EOS = 9, 11, 1, 2
SRC_LENGTHS = [6, 2, 5]
TGT_LENGTHS = [4, 1, 3]  # without bos / eos
# (encoder cell, bidirectional, encoder layers, He, decoder cell, decoder layers, H, attention, A, inputFeed, bridge, label smoothing)
CASES = [
    ('lstm', True, 2, 3, 'lstm', 2, 5, 'additive', 4, True, 'dense', 0.1),
    ('gru', False, 1, 5, 'gru', 1, 5, 'general', 5, True, 'passthrough', 0.0),
    ('rnn', False, 1, 4, 'lstm', 1, 4, 'concat', 3, False, 'zeros', 0.2),
]
DE, DT = 3, 4
ENCODERS = {'lstm': nn.LSTM, 'gru': nn.GRU, 'rnn': nn.RNN}


def fill(m, scale=0.5):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(((torch.rand(p.shape, dtype=torch.float64) * 2 - 1) * scale).float().double())
    return m


def pad(seqs, value=0):
    T = max(len(s) for s in seqs)
    return torch.tensor([[s[t] if t < len(s) else value for s in seqs] for t in range(T)], dtype=torch.long)


if __name__ == '__main__':
    torch.manual_seed(5)
    tensors = {}
    B = len(SRC_LENGTHS)
    S = max(SRC_LENGTHS)
    src = [[int(torch.randint(0, VS, ())) for _ in range(n)] for n in SRC_LENGTHS]
    tgt = [[int(torch.randint(3, VT, ())) for _ in range(n)] for n in TGT_LENGTHS]
    source = pad(src)
    target_in = pad([[BOS] + t for t in tgt])
    classes = pad([t + [EOS] for t in tgt])
    T = target_in.shape[0]
    for k, (ecell, bidir, Le, He, dcell, L, H, attention, A, feed_on, bridge, eps) in enumerate(CASES):
        dirs = 2 if bidir else 1
        E = He * dirs
        src_emb = fill(nn.Embedding(VS, DE).double())
        encoder = fill(ENCODERS[ecell](DE, He, num_layers=Le, bidirectional=bidir).double())
        tgt_emb = fill(nn.Embedding(VT, DT).double())
        cells = []
        for l in range(L):
            inw = (DT + (H if feed_on else 0)) if l == 0 else H
            cells.append(fill(att.CELLS[dcell](inw, H).double()))
        shapes = {'weight': (H, E) if attention == 'general' else (A, H + E), 'queryWeight': (A, H), 'queryBias': (A,), 'keyWeight': (A, E), 'v': (A,)}
        attn = {n: att.rand(*shapes[n], scale=0.5) for n in att.ATTN[attention]}
        attn['outWeight'] = att.rand(H, E + H, scale=0.5)
        generator = fill(nn.Linear(H, VT).double())
        bridges = {}
        if bridge == 'dense':
            for part in ['h', 'c'] if dcell == 'lstm' else ['h']:
                bridges[part] = fill(nn.Linear(E, L * H).double())

        memory, state = fixture.run_rnn(encoder, src_emb(source), SRC_LENGTHS)
        hN = state[0] if ecell == 'lstm' else state
        cN = state[1] if ecell == 'lstm' else None
        if bridge == 'passthrough':
            h0, c0 = hN, (cN if dcell == 'lstm' else None)
        elif bridge == 'zeros':
            h0 = torch.zeros(L, B, H, dtype=torch.float64)
            c0 = torch.zeros(L, B, H, dtype=torch.float64) if dcell == 'lstm' else None
        else:
            def dense(lin, s):
                top = torch.cat([s[(Le - 1) * dirs + d] for d in range(dirs)], dim=1)  # [B, E]
                return torch.tanh(lin(top)).reshape(B, L, H).permute(1, 0, 2)
            h0 = dense(bridges['h'], hN)
            c0 = dense(bridges['c'], cN if cN is not None else hN) if dcell == 'lstm' else None
        feed0 = torch.zeros(B, H, dtype=torch.float64)
        att.T, att.S, att.L, att.H = T, S, L, H  # the decoder reads its sizes from its module
        y, _, _, _ = att.decoder(dcell, attention, feed_on, cells, tgt_emb(target_in), memory, SRC_LENGTHS, h0, c0, feed0, attn)
        logits = generator(y)  # [T, B, V]
        valid = torch.tensor([[t <= TGT_LENGTHS[b] for b in range(B)] for t in range(T)])
        loss = F.cross_entropy(logits[valid], classes[valid], label_smoothing=eps)
        loss.backward()

        params = {'encoder.embedding.weight': src_emb.weight}
        for name, p in encoder.named_parameters():
            params[f'encoder.rnn.{name}'] = p
        for part, lin in bridges.items():
            params[f'bridge.{part}.weight'] = lin.weight
            params[f'bridge.{part}.bias'] = lin.bias
        params['decoder.embedding.weight'] = tgt_emb.weight
        for l, m in enumerate(cells):
            for n in ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']:
                params[f'decoder.rnn.{n}_l{l}'] = getattr(m, n)
        names = {'weight': 'weight', 'v': 'v', 'queryWeight': 'query.weight', 'queryBias': 'query.bias', 'keyWeight': 'key.weight'}
        for n, p in attn.items():
            params['decoder.attn.out.weight' if n == 'outWeight' else f'decoder.attn.{names[n]}'] = p
        params['generator.weight'] = generator.weight
        params['generator.bias'] = generator.bias
        for name, p in params.items():
            tensors[f'{k}.param.{name}'] = p.detach().float()
            tensors[f'{k}.grad.{name}'] = p.grad.detach().float()
        tensors[f'{k}.loss'] = loss.detach().float().reshape(1)
    tensors['source'] = source.int()
    tensors['sourceLengths'] = torch.tensor(SRC_LENGTHS, dtype=torch.int32)
    tensors['target'] = target_in.int()
    tensors['targetLengths'] = torch.tensor([n + 1 for n in TGT_LENGTHS], dtype=torch.int32)
    tensors['classes'] = classes.int()
    meta = {'torch': torch.__version__, 'cases': repr(CASES), 'sizes': repr({'Vs': VS, 'Vt': VT, 'De': DE, 'Dt': DT})}
    path = os.path.join(HERE, '..', 'test', 'fixtures', 'torch-seq2seq.safetensors')
    fixture.save(path, tensors, meta)
    print(f'wrote {len(tensors)} tensors for {len(CASES)} cases ({os.path.getsize(path)} bytes) with torch {torch.__version__}')
