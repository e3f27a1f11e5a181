#!/usr/bin/env bash
# Uses Modula.NET the way a user does: packs every package into a folder feed, runs each C# sample
# of the README as the Program.cs of a console project outside the repository that references the
# packages by PackageReference, then installs the modula tool from the feed and runs it.
# Prints one line per check and a closing "consumer: N passed, N failed"; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A version no cache can hold: a stale package from an earlier run can never be restored instead.
version="0.1.0-ci.$(date +%Y%m%d%H%M%S).$$"
feed="$work/feed"
passed=0 failed=0
check() {  # check NAME COMMAND...: runs the command, logging its output on failure
  local name="$1"; shift
  if "$@" >"$work/out.txt" 2>&1; then
    echo "consumer: passed $name: $(tail -n 1 "$work/out.txt" | cut -c1-100)"; passed=$((passed + 1))
  else
    echo "consumer: FAILED $name"; tail -30 "$work/out.txt"; failed=$((failed + 1))
  fi
}

check "pack" dotnet pack Modula.sln -c Release -o "$feed" -p:Version="$version"
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="modula-ci" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML

# Each README sample is a complete program: the Program.cs of a project with one package reference.
mkdir -p "$work/app"
cp "$work/nuget.config" "$work/app/nuget.config"
cat > "$work/app/App.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Modula.Optim" Version="$version" />
  </ItemGroup>
</Project>
XML
python3 - "$root/README.md" "$work/samples" <<'PY'
import re, sys, os
text = open(sys.argv[1], encoding="utf-8").read()
os.makedirs(sys.argv[2], exist_ok=True)
for i, block in enumerate(re.findall(r"```csharp\n(.*?)```", text, re.S), 1):
    open(os.path.join(sys.argv[2], f"sample{i}.cs"), "w", encoding="utf-8").write(block)
PY
for sample in "$work"/samples/sample*.cs; do
  cp "$sample" "$work/app/Program.cs"
  check "README $(basename "$sample" .cs)" dotnet run -c Release --project "$work/app/App.csproj"
done

# The tool, installed from the feed into its own folder.
check "tool install" dotnet tool install Modula.Cli --tool-path "$work/tool" --version "$version" \
  --configfile "$work/nuget.config"
check "modula --help" "$work/tool/modula" --help
check "modula --version" bash -c "\"$work/tool/modula\" --version | grep -qF '$version'"
check "modula train gpt --steps 3" "$work/tool/modula" train gpt --steps 3 --eval-interval 3 \
  --eval-batches 1 --log "$work/train.csv"

echo "consumer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
