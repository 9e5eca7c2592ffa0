{{/*
Names are fixed, not prefixed with the release name: the controller's Lease is named seccomp-operator-controller in
code, the admission policies name the service accounts, and one installation per cluster is all that makes sense
(the CRDs and the ClusterRoles are cluster-wide).
*/}}

{{- define "seccomp-operator.labels" -}}
app.kubernetes.io/name: seccomp-operator
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: seccomp-operator
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "seccomp-operator.podLabels" -}}
app.kubernetes.io/name: seccomp-operator
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: seccomp-operator
{{- end -}}

{{- define "seccomp-operator.selectorLabels" -}}
app.kubernetes.io/name: seccomp-operator
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "seccomp-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "seccomp-operator.agentUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:seccomp-operator-agent
{{- end -}}

{{- define "seccomp-operator.controllerUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:seccomp-operator-controller
{{- end -}}
