"""The join of faults and ABFT: which faults hit each fold attempt, what the checks see, each fault's fate.

Modules: ledger (faults and their errors as arrays), operand_cache (operands and what derives
from them, once per run), retry (the one retry loop), verifier (make_verifier: sampling,
resolution, checks, verdicts), writeback (stored outputs), fates (classification), outcomes
(the counts record).
"""
