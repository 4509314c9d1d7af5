print("harborguard")
