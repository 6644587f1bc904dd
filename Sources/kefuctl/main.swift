print("kefuctl")
