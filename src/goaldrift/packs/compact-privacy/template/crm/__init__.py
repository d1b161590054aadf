"""tally-crm: customer lists for the teams of the Tally web shop."""
