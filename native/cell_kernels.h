#pragma once
namespace gated { struct CellKernels { void* unused; }; }
