"""The join of faults and ABFT: which faults hit each fold attempt, what the checks see, each fault's fate.

Modules: ledger (faults and their errors as arrays), operand_cache (operands and what derives
from them, once per run), verifier (make_verifier: sampling, resolution, checks, verdicts
through the one retry loop, abft.retry, which sits below verify and engine so both can use it),
writeback (stored outputs), fates (classification), outcomes (the counts record).
"""
