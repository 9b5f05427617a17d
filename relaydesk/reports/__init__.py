"""Reports for supervisors: conversation volumes, first response and resolution times."""
