package config

// Reserved is what the program itself puts in the pods users can extend, whatever the
// configuration turns on. The components own these lists (components.Reserved) and Validate
// refuses user env, volumes and mounts that would collide with them.
type Reserved struct {
	// ServerEnv and AgentEnv are the containers' variables with the config key that sets each.
	ServerEnv []ReservedEnv
	AgentEnv  []ReservedEnv
	// ServerVolumes are the server pod's own volumes and where its container mounts them.
	ServerVolumes []ReservedVolume
}

// ReservedEnv is a variable the program sets, and the config key that sets it ("" when the
// program derives it alone).
type ReservedEnv struct{ Name, Key string }

// ReservedVolume is one of the program's volumes and its mount path.
type ReservedVolume struct{ Name, MountPath string }
