/**
 * The dashboard: one HTML page with an inline script, no build step. It polls
 * `GET /v1/sandboxes` every second, fills a table (state, owner, uptime, vCPUs, memory, VMM RSS and
 * CPU) and draws two SVG line charts (VMM memory in MiB, VMM CPU in % of one core, per sandbox) from
 * the last two minutes of samples. Hooks for tests: `tr[data-sandbox]`, `svg[data-samples]`.
 *
 * @module
 */

const STYLE = `
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px} .sub{color:#667;margin-bottom:16px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #e4e6ea;white-space:nowrap}
th{background:#eef0f4;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{padding:2px 8px;border-radius:10px;font-size:12px;color:#fff}
.ready{background:#2e8b57}.paused{background:#c98a00}.stopped{background:#888}.creating{background:#3b73c4}
.charts{display:flex;gap:16px;margin-top:16px;flex-wrap:wrap}
.card{background:#fff;box-shadow:0 1px 2px #0002;padding:10px;flex:1;min-width:420px}
.card h2{font-size:14px;margin:0 0 6px} svg{width:100%;height:220px;display:block}
.legend span{display:inline-block;margin-right:12px;font-size:12px} .err{color:#b00020}
`;

const SCRIPT = `
const COLORS=["#3b73c4","#2e8b57","#c94f4f","#8e44ad","#c98a00","#16a2b8","#e67e22","#555"];
const WINDOW=120, series=new Map(); let samples=0, last=new Map();
const $=(s)=>document.querySelector(s);
function fmtBytes(b){if(b==null)return "-";const u=["B","KiB","MiB","GiB"];let i=0;while(b>=1024&&i<3){b/=1024;i++}return b.toFixed(i?1:0)+" "+u[i]}
function fmtUp(s){if(s==null)return "-";s=Math.floor(s);const h=Math.floor(s/3600),m=Math.floor(s%3600/60);return (h?h+"h ":"")+(h||m?m+"m ":"")+(s%60)+"s"}
function owner(o){return o.kind==="process"?o.role+" ("+o.pid+")":o.kind==="holder"?"holder ("+o.pid+")":o.kind}
function esc(s){return String(s).replace(/[&<>"]/g,(c)=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c])}
function color(id){const ids=[...series.keys()].sort();return COLORS[Math.max(0,ids.indexOf(id))%COLORS.length]}
function draw(svg,key,unit){
  const W=600,H=200,P=36;let max=1;
  for(const s of series.values())for(const p of s)if(p[key]!=null)max=Math.max(max,p[key]);
  max=max*1.15;const now=Date.now()/1000;let first=now;
  for(const s of series.values())if(s.length)first=Math.min(first,s[0].t);
  const span=Math.min(WINDOW,Math.max(20,now-first));
  let out='<rect x="0" y="0" width="'+W+'" height="'+H+'" fill="#fff"/>';
  for(let i=0;i<=4;i++){const y=P/2+(H-P)*(i/4);const v=max*(1-i/4);
    out+='<line x1="'+P+'" x2="'+W+'" y1="'+y+'" y2="'+y+'" stroke="#e4e6ea"/>'+
      '<text x="2" y="'+(y+4)+'" font-size="10" fill="#667">'+v.toFixed(v<10?1:0)+unit+'</text>'}
  out+='<text x="'+P+'" y="'+(H-2)+'" font-size="10" fill="#667">-'+Math.round(span)+' s</text>'+
    '<text x="'+(W-20)+'" y="'+(H-2)+'" font-size="10" fill="#667">now</text>';
  for(const [id,pts] of series){
    const d=pts.filter((p)=>p[key]!=null).map((p,i)=>(i?"L":"M")+(P+(W-P)*(1-(now-p.t)/span)).toFixed(1)+","+
      (P/2+(H-P)*(1-p[key]/max)).toFixed(1)).join(" ");
    if(d)out+='<path data-sandbox="'+esc(id)+'" d="'+d+'" fill="none" stroke-width="2" stroke="'+color(id)+'"/>';
  }
  svg.innerHTML=out;svg.setAttribute("data-samples",String(samples));
}
async function tick(){
  try{
    const r=await fetch("/v1/sandboxes",{cache:"no-store"});
    if(!r.ok)throw new Error("HTTP "+r.status);
    const {sandboxes}=await r.json();const t=Date.now()/1000;samples++;
    const rows=[];
    for(const s of sandboxes){
      const prev=last.get(s.id);let cpu=null;
      if(s.vmm&&prev&&prev.vmm&&t>prev.t)cpu=Math.max(0,100*(s.vmm.cpuSeconds-prev.vmm.cpuSeconds)/(t-prev.t));
      last.set(s.id,{t,vmm:s.vmm});
      if(s.vmm){const pts=series.get(s.id)||[];pts.push({t,mem:s.vmm.rssBytes/1048576,cpu});
        while(pts.length&&t-pts[0].t>WINDOW)pts.shift();series.set(s.id,pts)}
      rows.push('<tr data-sandbox="'+esc(s.id)+'" data-state="'+esc(s.state.kind)+'"><td><span style="color:'+color(s.id)+'">&#9632;</span> '+esc(s.id)+
        '</td><td><span class="state '+esc(s.state.kind)+'">'+esc(s.state.kind)+'</span></td><td>'+esc(owner(s.owner))+
        '</td><td class="num">'+fmtUp(s.uptimeSeconds)+'</td><td class="num">'+s.vcpus+'</td><td class="num">'+s.memoryMiB+
        ' MiB</td><td class="num">'+fmtBytes(s.vmm&&s.vmm.rssBytes)+'</td><td class="num">'+(cpu==null?"-":cpu.toFixed(1)+" %")+
        '</td><td class="num">'+s.containers.length+'</td></tr>');
    }
    for(const id of [...series.keys()])if(!sandboxes.some((s)=>s.id===id)){series.delete(id);last.delete(id)}
    $("#rows").innerHTML=rows.join("")||'<tr><td colspan="9">no sandboxes</td></tr>';
    $("#updated").textContent="updated "+new Date().toLocaleTimeString()+" · "+sandboxes.length+" sandbox(es)";
    $("#legend").innerHTML=[...series.keys()].map((id)=>'<span style="color:'+color(id)+'">&#9632; '+esc(id)+'</span>').join("");
    draw($("#mem"),"mem"," MiB");draw($("#cpu"),"cpu"," %");
  }catch(e){$("#updated").innerHTML='<span class="err">'+esc(e.message)+'</span>'}
}
tick();setInterval(tick,1000);
`;

/** The page. Pure. */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cocoon sandboxes</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body><h1>Cocoon sandboxes</h1><div class="sub" id="updated">loading…</div>
<table><thead><tr><th>sandbox</th><th>state</th><th>owner</th><th>uptime</th><th>vCPUs</th><th>memory</th>
<th>VMM RSS</th><th>VMM CPU</th><th>containers</th></tr></thead><tbody id="rows"></tbody></table>
<div class="charts"><div class="card"><h2>VMM memory (RSS)</h2><svg id="mem" viewBox="0 0 600 200" data-samples="0"></svg></div>
<div class="card"><h2>VMM CPU (% of one core)</h2><svg id="cpu" viewBox="0 0 600 200" data-samples="0"></svg></div></div>
<div class="legend" id="legend"></div>
<script>${SCRIPT}</script></body></html>`;
}
