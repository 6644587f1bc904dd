print("kefud")
