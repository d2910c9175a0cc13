"""Tables, sessions, migrations and every SQL statement. Never imports strawberry."""
