// STUB: replaced by its owner.
#include "cells.h"
namespace gated {
void lstm_forward(const LstmForwardArgs&) {}
void lstm_backward(const LstmBackwardArgs&) {}
}
