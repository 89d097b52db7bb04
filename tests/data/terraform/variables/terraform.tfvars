from_files = "auto-secret-5"
plain      = "still-not-a-secret"
