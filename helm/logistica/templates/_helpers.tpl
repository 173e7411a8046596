{{- define "logistica.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "logistica.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: logistica
{{- end -}}

{{- define "logistica.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "logistica.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret holding the DSN the workers read: generated in bundled mode, yours in external. */}}
{{- define "logistica.databaseSecret" -}}
{{- if eq .Values.database.mode "bundled" -}}
{{- printf "%s-database" (include "logistica.fullname" .) -}}
{{- else -}}
{{- required "database.existingSecret is required with database.mode=external: the name of a Secret holding the PostgreSQL DSN" .Values.database.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "logistica.postgresImage" -}}
{{ .Values.database.bundled.image.repository }}:{{ .Values.database.bundled.image.tag }}
{{- end -}}

{{/* The bundled database's Service host, reachable from every namespace. */}}
{{- define "logistica.postgresHost" -}}
{{ include "logistica.fullname" . }}-postgres.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* Namespaces that get the bundled database's DSN Secret: the release's and the watched ones. */}}
{{- define "logistica.databaseNamespaces" -}}
{{- $all := list .Release.Namespace -}}
{{- if not .Values.operator.clusterWide -}}
{{- $all = concat $all (splitList "," (include "logistica.watchNamespaces" .)) -}}
{{- end -}}
{{- join "," (uniq $all) -}}
{{- end -}}

{{- define "logistica.watchNamespaces" -}}
{{- if .Values.operator.watchNamespaces -}}
{{- join "," .Values.operator.watchNamespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Grace budget handed to each process: the pod's grace period. */}}
{{- define "logistica.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
securityContext: {{ toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{ toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* OTEL_* env of a component (nothing when tracing is off); the argument is the service name. */}}
{{- define "logistica.tracingEnv" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.tracing.otlpEndpoint }}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ $root.Values.tracing.otlpEndpoint | quote }}}
- {name: OTEL_SERVICE_NAME, value: {{ index . 1 | quote }}}
{{- range $k, $v := $root.Values.tracing.env }}
- {name: {{ $k }}, value: {{ $v | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{/* LOGISTICA_DEBUG_TOKEN from debug.tokenSecret (nothing when unset). */}}
{{- define "logistica.debugEnv" -}}
{{- if .Values.debug.tokenSecret }}
- name: LOGISTICA_DEBUG_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.debug.tokenSecret | quote }}, key: token}
{{- end }}
{{- end }}
