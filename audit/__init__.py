"""The audit trail: who signed in, watched, played back, exported and changed what (README "Audit trail").

`audit.log` is what the rest of nvr calls; it imports nothing of ours, so every app may.
"""
