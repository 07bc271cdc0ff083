#pragma once
namespace gated { struct GemmKernels { void* unused; }; }
