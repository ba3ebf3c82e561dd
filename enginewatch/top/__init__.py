"""`enginewatch top`: a live terminal view of the fleet and of the pipeline itself."""
