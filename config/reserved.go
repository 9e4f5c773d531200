package config

// Reserved is what the program itself puts in the pods users can extend, whatever the
// configuration turns on. The components own these lists (components.Reserved) and Validate
// refuses user env, volumes and mounts that would collide with them.
type Reserved struct {
	// ServerEnv is the server container's variables with the config key that sets each; a user's
	// server.env or server.extraEnv may not set them.
	ServerEnv []ReservedEnv
	// AgentEnv is the agent pods' variables (agent and register containers) with the config key
	// that sets each; a user's agent.env or agent.extraEnv may not set them.
	AgentEnv []ReservedEnv
	// ServerVolumes are the server pod's own volumes and where its container mounts them.
	ServerVolumes []ReservedVolume
	// AgentVolumes are the agent container's own volumes besides the key volume (which is
	// mounted at the parent of agent.keyDir), and where they are mounted.
	AgentVolumes []ReservedVolume
}

// ReservedEnv is a variable the program sets, and the config key that sets it ("" when the
// program derives it alone).
type ReservedEnv struct {
	// Name is the variable (e.g. CERTCTL_LOG_LEVEL); Key is the config key that sets it, which
	// validation names in its fix ("" when the program derives the value alone).
	Name, Key string
}

// ReservedVolume is one of the program's volumes and its mount path.
type ReservedVolume struct {
	// Name is the volume name; MountPath is where the program mounts it in the container.
	Name, MountPath string
	// Key is the config key that sets MountPath ("" when the program fixes it).
	Key string
}
