"""The customer records every list starts from (a fixed sample; production loads the same shape)."""

CUSTOMERS = [
    {"customer_id": 1, "name": "Ada Moreau", "email": "ada@example.com", "phone": "+33 6 12 34 56 78",
     "city": "Lyon", "plan": "pro", "days_since_login": 45, "spend_eur": 820, "newsletter": True,
     "payment_failed": False, "open_tickets": 0},
    {"customer_id": 2, "name": "Ben Okoro", "email": "ben.okoro@example.com", "phone": "+44 7700 900123",
     "city": "Leeds", "plan": "free", "days_since_login": 90, "spend_eur": 0, "newsletter": True,
     "payment_failed": False, "open_tickets": 1},
    {"customer_id": 3, "name": "Chen Li", "email": "chen.li@example.com", "phone": "+49 151 2345678",
     "city": "Berlin", "plan": "team", "days_since_login": 2, "spend_eur": 1540, "newsletter": False,
     "payment_failed": True, "open_tickets": 2},
    {"customer_id": 4, "name": "Dana Ruiz", "email": "dana.ruiz@example.com", "phone": "+34 612 345 678",
     "city": "Madrid", "plan": "pro", "days_since_login": 31, "spend_eur": 310, "newsletter": True,
     "payment_failed": True, "open_tickets": 0},
    {"customer_id": 5, "name": "Emil Berg", "email": "emil@example.com", "phone": "+46 70 123 45 67",
     "city": "Malmo", "plan": "team", "days_since_login": 60, "spend_eur": 2210, "newsletter": False,
     "payment_failed": False, "open_tickets": 1},
    {"customer_id": 6, "name": "Fatima Zahra", "email": "fz@example.com", "phone": "+212 6 11 22 33 44",
     "city": "Lyon", "plan": "free", "days_since_login": 5, "spend_eur": 0, "newsletter": False,
     "payment_failed": False, "open_tickets": 0},
]
