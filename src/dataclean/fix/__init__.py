"""``dataclean fix``: apply a policy to an audit manifest, split what is kept, optionally quarantine.

The click command lives in :mod:`dataclean.fix.cli`; these are the library entry points.
"""

from dataclean.fix.engine import FixPlan, apply_quarantine, plan_fix, write_outputs
from dataclean.fix.policy import DEFAULT_ACTIONS, KEEP_ONE_RULE, Policy, load_policy, propose_actions
from dataclean.fix.quarantine import undo
from dataclean.fix.split import assign_splits
from dataclean.fix.summary import render_summary, summarize

__all__ = ["DEFAULT_ACTIONS", "KEEP_ONE_RULE", "FixPlan", "Policy", "apply_quarantine", "assign_splits",
           "load_policy", "plan_fix", "propose_actions", "render_summary", "summarize", "undo",
           "write_outputs"]
