"""Who may log in and how often: the login throttle shared by the login pages and HTTP Basic on streams."""
