"""Cases: children, missing episodes and their state machine (`transitions`), every write
(`services`), reads (`selectors`), the clocks, repeat-missing rules, merges, child facts,
NHS numbers, the Philomena profile and the domain errors."""
