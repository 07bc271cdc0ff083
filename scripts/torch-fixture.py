#!/usr/bin/env python3
"""Writes test/fixtures/torch-*.safetensors: small PyTorch models' state_dicts, an input and PyTorch's
output, so that test/models/pytorch.test.ts can check that gated loads PyTorch weights by name and
computes what PyTorch computes.

    /usr/bin/python3 scripts/torch-fixture.py      # needs torch (Debian: apt-get install python3-torch)

Each file holds the module's state_dict under its own names (what `nn.Sequential` would give: `0.weight`,
`1.weight_ih_l0_reverse`, ...), plus `input.*` tensors and `expected.output`, and `__metadata__`
with the torch version. Written by hand (safetensors' format: an 8-byte little-endian header length,
a JSON header, then the raw little-endian data), so only torch is needed.
"""
import json
import os
import struct
import sys

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
DTYPES = {torch.float32: 'F32', torch.int32: 'I32'}


def save(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(',', ':')).encode()
    head += b' ' * (-len(head) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


class Chain(nn.Module):
    """Modules registered as '0', '1', ... (nn.Sequential's names); forward written out per model."""

    def __init__(self, *mods):
        super().__init__()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)


def run_rnn(rnn, x, lengths):
    """Time-major x [T, B, F]; outputs zero past each length (gated's convention, PyTorch's packing)."""
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    y, h = rnn(packed)
    y, _ = pad_packed_sequence(y, total_length=x.shape[0])
    return y, h


def tagger():
    """Token tagger: Embedding(padding_idx=0) -> 2-layer bidirectional LSTM -> Linear, per step."""
    V, E, H, C, T, B = 7, 5, 6, 4, 5, 3
    m = Chain(nn.Embedding(V, E, padding_idx=0), nn.LSTM(E, H, num_layers=2, bidirectional=True), nn.Linear(2 * H, C))
    lengths = torch.tensor([5, 2, 4])
    ids = torch.randint(1, V, (T, B))
    for b in range(B):
        ids[lengths[b]:, b] = 0
    y, _ = run_rnn(m._modules['1'], m._modules['0'](ids), lengths)
    out = m._modules['2'](y)
    return m, {'input.ids': ids.to(torch.int32), 'input.lengths': lengths.to(torch.int32), 'expected.output': out}


def classifier():
    """Float sequences -> bidirectional GRU, final states concatenated -> Linear (many-to-one)."""
    F, H, C, T, B = 3, 5, 2, 4, 3
    m = Chain(nn.GRU(F, H, bidirectional=True), nn.Linear(2 * H, C))
    lengths = torch.tensor([4, 1, 3])
    x = torch.randn(T, B, F)
    for b in range(B):
        x[lengths[b]:, b] = 0
    _, h = run_rnn(m._modules['0'], x, lengths)
    out = m._modules['1'](torch.cat([h[0], h[1]], dim=1))
    return m, {'input.x': x, 'input.lengths': lengths.to(torch.int32), 'expected.output': out}


def relu_rnn():
    """Float sequences -> 2-layer ReLU RNN -> Linear, per step (no lengths)."""
    F, H, C, T, B = 2, 4, 3, 3, 2
    m = Chain(nn.RNN(F, H, num_layers=2, nonlinearity='relu'), nn.Linear(H, C))
    x = torch.randn(T, B, F)
    y, _ = m._modules['0'](x)
    return m, {'input.x': x, 'expected.output': m._modules['1'](y)}


def main():
    torch.manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    for name, make in [('tagger', tagger), ('classifier', classifier), ('relu-rnn', relu_rnn)]:
        with torch.no_grad():
            m, extra = make()
            tensors = {k: v.float() for k, v in m.state_dict().items()}
            tensors.update(extra)
        path = os.path.join(OUT, f'torch-{name}.safetensors')
        save(path, tensors, {'torch': torch.__version__, 'made_by': 'scripts/torch-fixture.py'})
        print(path, os.path.getsize(path), 'bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
