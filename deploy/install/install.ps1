# hydranode installer for Windows.
#
# Served by hydracluster at /install.ps1 with its releases.base_url filled in.
# The command that POST /api/v1/enrollments prints runs it from an elevated
# PowerShell:
#
#   powershell -NoProfile -ExecutionPolicy Bypass -Command "& ([scriptblock]::Create((irm 'https://cluster.example.com/install.ps1'))) -Server 'https://cluster.example.com' -EnrollmentToken '<token>'"
#
# It downloads the agent for this CPU from the release server
# (<base_url>/hydranode-windows-<arch>.exe, checked against <that URL>.sha256),
# installs it as "$env:ProgramFiles\hydranode\hydranode.exe", writes the
# enroll file "$env:ProgramData\hydranode\enroll.json" ({"server_url",
# "enrollment_token"}; the folder is readable by SYSTEM and Administrators
# only), and registers and starts the scheduled task HydraNode, which runs
# `hydranode.exe run --state-dir "$env:ProgramData\hydranode"` as SYSTEM at
# start-up and restarts it when it stops. Running it again replaces the
# binary and the enroll file and restarts the task.
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$EnrollmentToken,
    [string]$BaseUrl = '@RELEASES_BASE_URL@'
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'install.ps1: run this from an elevated PowerShell (right-click, Run as administrator)'
}
if ($EnrollmentToken -notmatch '^[A-Za-z0-9]+$') {
    throw 'install.ps1: the enrollment token must be letters and digits only (copy it again)'
}
# both URLs end up in a JSON file and a task definition: no quoting needed there
foreach ($u in @(@('Server', $Server), @('BaseUrl', $BaseUrl))) {
    if ($u[1] -notmatch '^https?://[A-Za-z0-9:/._~%@+=,;\[\]-]+$') {
        throw "install.ps1: -$($u[0]) must be an http:// or https:// URL, not '$($u[1])'"
    }
}
$Server = $Server.TrimEnd('/')
$BaseUrl = $BaseUrl.TrimEnd('/')

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

$installDir = Join-Path $env:ProgramFiles 'hydranode'
$stateDir = Join-Path $env:ProgramData 'hydranode'
$exe = Join-Path $installDir 'hydranode.exe'
$taskName = 'HydraNode'
$url = "$BaseUrl/hydranode-windows-$arch.exe"
$tmp = Join-Path ([IO.Path]::GetTempPath()) ('hydranode-' + [Guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Force -Path $tmp | Out-Null
try {
    Write-Host "install.ps1: downloading $url"
    Invoke-WebRequest -UseBasicParsing -Uri $url -OutFile (Join-Path $tmp 'hydranode.exe')
    Invoke-WebRequest -UseBasicParsing -Uri "$url.sha256" -OutFile (Join-Path $tmp 'hydranode.exe.sha256')
    $want = ((Get-Content -Raw (Join-Path $tmp 'hydranode.exe.sha256')).Trim() -split '\s+')[0].ToLowerInvariant()
    $got = (Get-FileHash -Algorithm SHA256 (Join-Path $tmp 'hydranode.exe')).Hash.ToLowerInvariant()
    if ($want -ne $got) {
        throw "install.ps1: the download does not match $url.sha256 (expected $want, got $got)"
    }

    # stop a running agent before its binary is replaced
    if (Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue
    }
    Get-Process -Name 'hydranode' -ErrorAction SilentlyContinue |
        Where-Object { $_.Path -eq $exe } | Stop-Process -Force -ErrorAction SilentlyContinue
    Start-Sleep -Seconds 1

    New-Item -ItemType Directory -Force -Path $installDir, $stateDir | Out-Null
    Move-Item -Force (Join-Path $tmp 'hydranode.exe') $exe
} finally {
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}

# the enroll file holds a secret: SYSTEM (S-1-5-18) and Administrators
# (S-1-5-32-544) only, set on the folder before the file is written so the
# file inherits it
& icacls.exe $stateDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "install.ps1: cannot restrict access to $stateDir (icacls exit $LASTEXITCODE)" }
$enroll = [ordered]@{ server_url = $Server; enrollment_token = $EnrollmentToken } | ConvertTo-Json -Compress
[IO.File]::WriteAllText((Join-Path $stateDir 'enroll.json'), $enroll, (New-Object Text.UTF8Encoding($false)))

$action = New-ScheduledTaskAction -Execute $exe -Argument ('run --state-dir "' + $stateDir + '"') -WorkingDirectory $installDir
$trigger = New-ScheduledTaskTrigger -AtStartup
$taskPrincipal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -StartWhenAvailable `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -ExecutionTimeLimit ([TimeSpan]::Zero) `
    -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName $taskName -Action $action -Trigger $trigger -Principal $taskPrincipal `
    -Settings $settings -Description 'hydranode agent (hydracluster node)' -Force | Out-Null
Start-ScheduledTask -TaskName $taskName

Write-Host "install.ps1: hydranode installed and started (scheduled task $taskName); it enrolls with $Server"
Write-Host 'install.ps1: an admin approves it there (it shows as pending until then)'
