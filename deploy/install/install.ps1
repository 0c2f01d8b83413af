# hydranode installer for Windows: puts the agent where the operators'
# runbook has it and lets the agent register itself.
#
# Served by hydracluster at /install.ps1 with this server's URL, its
# releases.base_url and releases.channel filled in. The command that
# POST /api/v1/enrollments prints runs it from an elevated PowerShell:
#
#   powershell -NoProfile -ExecutionPolicy Bypass -Command "& ([scriptblock]::Create((irm 'https://cluster.example.com/install.ps1'))) -Server 'https://cluster.example.com' -EnrollmentToken '<token>'"
#
# What it does (the runbook's layout of the deployed agent):
#   1. downloads <base_url>/hydranode/<channel>/latest/hydranode-windows-<arch>.exe
#      and checks it against <that URL>.sha256 when the release server offers
#      one (it says so when it does not);
#   2. installs it as C:\hydranode\hydranode.exe (stopping a running agent first);
#   3. with -EnrollmentToken: writes C:\hydranode\enroll.yaml
#      (server_url, enrollment_token: the names of the iPad QR payload),
#      readable by SYSTEM and Administrators only;
#   4. runs `C:\hydranode\hydranode.exe install`, which registers the
#      scheduled task HydraNode (repeating every minute, as SYSTEM), and
#      starts the task.
# The agent keeps its own state in the SYSTEM profile's .hydranode\
# (config.yaml with the server URL and its node token, config_cache.yaml,
# provider_version.txt); this script never touches it.
#
# Recovery: run it again WITHOUT -EnrollmentToken to reinstall the binary and
# the task of an agent that is already enrolled: it keeps its node identity
# (no new node, nothing to approve).
param(
    [string]$Server = '@SERVER_URL@',
    [string]$EnrollmentToken = '',
    [string]$BaseUrl = '@RELEASES_BASE_URL@',
    [string]$Channel = '@RELEASES_CHANNEL@'
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'install.ps1: run this from an elevated PowerShell (right-click, Run as administrator)'
}
if ($EnrollmentToken -and $EnrollmentToken -notmatch '^[A-Za-z0-9]+$') {
    throw 'install.ps1: the enrollment token must be letters and digits only (copy it again)'
}
if ($Channel -notmatch '^[A-Za-z0-9._-]+$') {
    throw "install.ps1: -Channel must be a release channel name such as production, not '$Channel'"
}
# both URLs end up in a YAML file and a download path: no quoting needed there
foreach ($u in @(@('Server', $Server), @('BaseUrl', $BaseUrl))) {
    if ($u[1] -notmatch '^https?://[A-Za-z0-9:/._~%@+=,;\[\]-]+$') {
        throw "install.ps1: -$($u[0]) must be an http:// or https:// URL, not '$($u[1])'"
    }
}
$Server = $Server.TrimEnd('/')
$BaseUrl = $BaseUrl.TrimEnd('/')

$installDir = 'C:\hydranode'
$exe = Join-Path $installDir 'hydranode.exe'
$enrollFile = Join-Path $installDir 'enroll.yaml'
$taskName = 'HydraNode'
# the agent's own state: the SYSTEM profile's .hydranode\ (config.yaml holds its node token)
$agentState = Join-Path $env:SystemRoot 'System32\config\systemprofile\.hydranode'
$enrolled = (Test-Path (Join-Path $agentState 'config.yaml')) -or (Test-Path $enrollFile)
if (-not $EnrollmentToken -and -not $enrolled) {
    throw "install.ps1: this machine has no enrollment yet ($agentState\config.yaml and $enrollFile are missing): ask an admin for an install command with -EnrollmentToken"
}

# a 32-bit PowerShell on 64-bit Windows reports x86 here and the truth in ...W6432
$cpu = $env:PROCESSOR_ARCHITEW6432
if (-not $cpu) { $cpu = $env:PROCESSOR_ARCHITECTURE }
switch ($cpu) {
    'AMD64' { $arch = 'amd64' }
    'ARM64' { $arch = 'arm64' }
    default { throw "install.ps1: unsupported CPU $cpu; agents are built for amd64 and arm64" }
}

# Windows PowerShell 5.1 may still default to TLS 1.0
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

$url = "$BaseUrl/hydranode/$Channel/latest/hydranode-windows-$arch.exe"
$tmp = Join-Path ([IO.Path]::GetTempPath()) ('hydranode-' + [Guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Force -Path $tmp | Out-Null
try {
    Write-Host "install.ps1: downloading $url"
    Invoke-WebRequest -UseBasicParsing -Uri $url -OutFile (Join-Path $tmp 'hydranode.exe')
    $sum = $null
    try {
        Invoke-WebRequest -UseBasicParsing -Uri "$url.sha256" -OutFile (Join-Path $tmp 'hydranode.exe.sha256')
        $sum = Join-Path $tmp 'hydranode.exe.sha256'
    } catch {
        Write-Warning "install.ps1: the release server offers no checksum ($url.sha256): the download is NOT verified"
    }
    if ($sum) {
        $want = ((Get-Content -Raw $sum).Trim() -split '\s+')[0].ToLowerInvariant()
        $got = (Get-FileHash -Algorithm SHA256 (Join-Path $tmp 'hydranode.exe')).Hash.ToLowerInvariant()
        if ($want -ne $got) {
            throw "install.ps1: the download does not match $url.sha256 (expected $want, got $got)"
        }
        Write-Host "install.ps1: checksum verified ($url.sha256)"
    }

    # stop a running agent before its binary is replaced
    if (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue) {
        & schtasks.exe /End /TN $taskName 2>$null | Out-Null
    }
    Get-Process -Name 'hydranode' -ErrorAction SilentlyContinue |
        Where-Object { $_.Path -eq $exe } | Stop-Process -Force -ErrorAction SilentlyContinue
    Start-Sleep -Seconds 1

    New-Item -ItemType Directory -Force -Path $installDir | Out-Null
    Move-Item -Force (Join-Path $tmp 'hydranode.exe') $exe
} finally {
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}

if ($EnrollmentToken) {
    # the enroll file holds a secret: SYSTEM (S-1-5-18) and Administrators
    # (S-1-5-32-544) only; written empty first, restricted, then filled
    [IO.File]::WriteAllText($enrollFile, '', (New-Object Text.UTF8Encoding($false)))
    & icacls.exe $enrollFile /inheritance:r /grant:r '*S-1-5-18:F' '*S-1-5-32-544:F' | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "install.ps1: cannot restrict access to $enrollFile (icacls exit $LASTEXITCODE)" }
    $yaml = "server_url: '$Server'`r`nenrollment_token: '$EnrollmentToken'`r`n"
    [IO.File]::WriteAllText($enrollFile, $yaml, (New-Object Text.UTF8Encoding($false)))
} else {
    Write-Host 'install.ps1: no -EnrollmentToken: reinstalling the enrolled agent, it keeps its node identity'
}

# the agent registers its scheduled task HydraNode itself
& $exe install
if ($LASTEXITCODE -ne 0) { throw "install.ps1: '$exe install' failed (exit $LASTEXITCODE)" }
& schtasks.exe /Run /TN $taskName | Out-Null
if ($LASTEXITCODE -ne 0) { throw "install.ps1: cannot start the scheduled task $taskName (schtasks exit $LASTEXITCODE)" }

Write-Host "install.ps1: hydranode installed in $installDir and started (scheduled task $taskName); it reports to $Server"
if ($EnrollmentToken) {
    Write-Host 'install.ps1: an admin approves it there (it shows as pending until then)'
}
