"""The command line, the HTTP server and its guard, the web page: thin layers over the library API.
"""
