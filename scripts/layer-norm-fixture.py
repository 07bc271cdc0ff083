#!/usr/bin/env python3
"""Writes test/fixtures/torch-layer-norm.safetensors: PyTorch's nn.LayerNorm on a few awkward shapes
(features 1, 7, 9, 33, 257; with and without the affine part), its output, and the gradients of
sum(y * dy) with respect to x, weight and bias, computed in float64 and stored as float32, so that
test/ops/layer-norm.test.ts checks gated's layerNorm op (both backends) against PyTorch.

    /usr/bin/python3 scripts/layer-norm-fixture.py      # needs torch (Debian: apt-get install python3-torch)
"""
import importlib.util
import os

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('torch_fixture', os.path.join(HERE, 'torch-fixture.py'))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)  # only defines helpers: its main runs under __main__

CASES = [(5, 1, True, 1e-5), (3, 7, True, 1e-5), (4, 9, False, 1e-3), (2, 33, True, 0.1), (6, 257, True, 1e-5)]

if __name__ == '__main__':
    torch.manual_seed(7)
    tensors = {}
    for k, (rows, features, affine, eps) in enumerate(CASES):
        norm = nn.LayerNorm(features, eps=eps, elementwise_affine=affine).double()
        if affine:
            with torch.no_grad():
                norm.weight.copy_(torch.rand(features, dtype=torch.float64) * 2 - 0.5)
                norm.bias.copy_(torch.rand(features, dtype=torch.float64) - 0.5)
        x = (torch.rand(rows, features, dtype=torch.float64) * 4 - 2).float().double().requires_grad_()
        dy = (torch.rand(rows, features, dtype=torch.float64) * 2 - 1).float().double()
        y = norm(x)
        (y * dy).sum().backward()
        case = {'x': x, 'dy': dy, 'y': y, 'dx': x.grad}
        if affine:
            case.update({'weight': norm.weight, 'bias': norm.bias, 'dWeight': norm.weight.grad, 'dBias': norm.bias.grad})
        for name, t in case.items():
            tensors[f'{k}.{name}'] = t.detach().float()
    meta = {'torch': torch.__version__, 'cases': repr(CASES)}
    fixture.save(os.path.join(HERE, '..', 'test', 'fixtures', 'torch-layer-norm.safetensors'), tensors, meta)
    print(f'wrote {len(tensors)} tensors for {len(CASES)} cases with torch {torch.__version__}')
