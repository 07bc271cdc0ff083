// STUB: replaced by its owner.
#include "cells.h"
namespace gated {
void gru_forward(const GruForwardArgs&) {}
void gru_backward(const GruBackwardArgs&) {}
}
