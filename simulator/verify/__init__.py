"""The join of faults and ABFT: which faults hit each fold attempt, what the checks see, each fault's fate."""
