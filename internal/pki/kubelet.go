package pki

import (
	"sigs.k8s.io/yaml"
)

// kubeletConfiguration is the subset of kubelet.config.k8s.io/v1beta1
// KubeletConfiguration that kubeadm writes to /var/lib/kubelet/config.yaml,
// with the values kubeadm defaults (cmd/kubeadm/app/componentconfigs/kubelet.go).
// Zero durations appear as kubeadm's file shows them.
type kubeletConfiguration struct {
	APIVersion                       string                `json:"apiVersion"`
	Kind                             string                `json:"kind"`
	Authentication                   kubeletAuthentication `json:"authentication"`
	Authorization                    kubeletAuthorization  `json:"authorization"`
	CgroupDriver                     string                `json:"cgroupDriver"`
	ClusterDNS                       []string              `json:"clusterDNS"`
	ClusterDomain                    string                `json:"clusterDomain"`
	ContainerRuntimeEndpoint         string                `json:"containerRuntimeEndpoint"`
	CPUManagerReconcilePeriod        string                `json:"cpuManagerReconcilePeriod"`
	EvictionPressureTransitionPeriod string                `json:"evictionPressureTransitionPeriod"`
	FileCheckFrequency               string                `json:"fileCheckFrequency"`
	HealthzBindAddress               string                `json:"healthzBindAddress"`
	HealthzPort                      int32                 `json:"healthzPort"`
	HTTPCheckFrequency               string                `json:"httpCheckFrequency"`
	ImageMaximumGCAge                string                `json:"imageMaximumGCAge"`
	ImageMinimumGCAge                string                `json:"imageMinimumGCAge"`
	Logging                          kubeletLogging        `json:"logging"`
	MemorySwap                       struct{}              `json:"memorySwap"`
	NodeStatusReportFrequency        string                `json:"nodeStatusReportFrequency"`
	NodeStatusUpdateFrequency        string                `json:"nodeStatusUpdateFrequency"`
	RotateCertificates               bool                  `json:"rotateCertificates"`
	RuntimeRequestTimeout            string                `json:"runtimeRequestTimeout"`
	ServerTLSBootstrap               bool                  `json:"serverTLSBootstrap"`
	ShutdownGracePeriod              string                `json:"shutdownGracePeriod"`
	ShutdownGracePeriodCriticalPods  string                `json:"shutdownGracePeriodCriticalPods"`
	StaticPodPath                    string                `json:"staticPodPath"`
	StreamingConnectionIdleTimeout   string                `json:"streamingConnectionIdleTimeout"`
	SyncFrequency                    string                `json:"syncFrequency"`
	VolumeStatsAggPeriod             string                `json:"volumeStatsAggPeriod"`
}

type kubeletAuthentication struct {
	Anonymous struct {
		Enabled bool `json:"enabled"`
	} `json:"anonymous"`
	Webhook struct {
		CacheTTL string `json:"cacheTTL"`
		Enabled  bool   `json:"enabled"`
	} `json:"webhook"`
	X509 struct {
		ClientCAFile string `json:"clientCAFile"`
	} `json:"x509"`
}

type kubeletAuthorization struct {
	Mode    string `json:"mode"`
	Webhook struct {
		CacheAuthorizedTTL   string `json:"cacheAuthorizedTTL"`
		CacheUnauthorizedTTL string `json:"cacheUnauthorizedTTL"`
	} `json:"webhook"`
}

type kubeletLogging struct {
	FlushFrequency int `json:"flushFrequency"`
	Options        struct {
		JSON struct {
			InfoBufferSize string `json:"infoBufferSize"`
		} `json:"json"`
		Text struct {
			InfoBufferSize string `json:"infoBufferSize"`
		} `json:"text"`
	} `json:"options"`
	Verbosity int `json:"verbosity"`
}

// kubeletConfig renders /var/lib/kubelet/config.yaml for n.
func (n *node) kubeletConfig() ([]byte, error) {
	c := kubeletConfiguration{
		APIVersion:                       "kubelet.config.k8s.io/v1beta1",
		Kind:                             "KubeletConfiguration",
		CgroupDriver:                     "systemd",
		ClusterDNS:                       []string{n.dnsIP.String()},
		ClusterDomain:                    n.dnsDomain,
		CPUManagerReconcilePeriod:        "0s",
		EvictionPressureTransitionPeriod: "0s",
		FileCheckFrequency:               "0s",
		HealthzBindAddress:               "127.0.0.1",
		HealthzPort:                      10248,
		HTTPCheckFrequency:               "0s",
		ImageMaximumGCAge:                "0s",
		ImageMinimumGCAge:                "0s",
		NodeStatusReportFrequency:        "0s",
		NodeStatusUpdateFrequency:        "0s",
		RotateCertificates:               n.rotate,
		RuntimeRequestTimeout:            "0s",
		ServerTLSBootstrap:               false,
		ShutdownGracePeriod:              "0s",
		ShutdownGracePeriodCriticalPods:  "0s",
		StaticPodPath:                    manifestsPath,
		StreamingConnectionIdleTimeout:   "0s",
		SyncFrequency:                    "0s",
		VolumeStatsAggPeriod:             "0s",
	}
	c.Authentication.Webhook.CacheTTL = "0s"
	c.Authentication.Webhook.Enabled = true
	c.Authentication.X509.ClientCAFile = caCertPath
	c.Authorization.Mode = "Webhook"
	c.Authorization.Webhook.CacheAuthorizedTTL = "0s"
	c.Authorization.Webhook.CacheUnauthorizedTTL = "0s"
	c.Logging.Options.JSON.InfoBufferSize = "0"
	c.Logging.Options.Text.InfoBufferSize = "0"
	return yaml.Marshal(c)
}
