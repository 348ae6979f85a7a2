//@ port
  {{direction}} wire {{range}}{{name}}{{comma}}
//@ lut_node
  {{top}}_lut #(.K({{k}}), .INIT({{init}})) {{inst}} (.a({{addr}}), .y({{out}}));
//@ wire
  wire {{range}}{{name}};
//@ assign
  assign {{lhs}} = {{rhs}};
//@ encoder_bit
  assign y[{{bit}}] = (x[{{msb}}:{{lsb}}] >= 8'd{{threshold}});
//@ feature_bit
  assign y[{{bit}}] = (x[{{msb}}:{{lsb}}] >= {{width}}'d{{threshold}});
//@ threshold_cmp
  assign y[{{bit}}] = ({{sum}} {{op}} {{width}}'d{{threshold}});
//@ compare_wire
  wire {{name}} = ({{sum}} {{op}} {{width}}'d{{threshold}});
//@ sum2
  wire [{{msb}}:0] {{name}} = {{a}} + {{b}};
//@ argmax_step
  wire {{take}} = ({{score_b}} > {{score_a}});
  wire [{{score_msb}}:0] {{score}} = {{take}} ? {{score_b}} : {{score_a}};
  wire [{{class_msb}}:0] {{cls}} = {{take}} ? {{cls_b}} : {{cls_a}};
//@ argmax_root
  wire {{take}} = ({{score_b}} > {{score_a}});
  wire [{{class_msb}}:0] {{cls}} = {{take}} ? {{cls_b}} : {{cls_a}};
//@ argmax_take
  wire {{take}} = ({{score_b}} > {{score_a}});
//@ argmax_select
  wire [{{score_msb}}:0] {{score}} = {{take}} ? {{score_b}} : {{score_a}};
  wire [{{class_msb}}:0] {{cls}} = {{take}} ? {{cls_b}} : {{cls_a}};
//@ clk_port
  input  wire clk,
//@ delay_reg
  reg {{range}}{{q}};
  always @(posedge clk) {{q}} <= {{d}};
//@ instance_clk
  {{module}} {{inst}} (.clk(clk), .x({{x}}), .y({{y}}));
//@ head_instance_clk
  {{module}} {{inst}} (.clk(clk), .x({{x}}), .cls({{cls}}));
//@ head_instance_scores_clk
  {{module}} {{inst}} (.clk(clk), .x({{x}}), .scores({{scores}}), .cls({{cls}}));
//@ instance
  {{module}} {{inst}} (.x({{x}}), .y({{y}}));
//@ head_instance
  {{module}} {{inst}} (.x({{x}}), .cls({{cls}}));
//@ head_instance_scores
  {{module}} {{inst}} (.x({{x}}), .scores({{scores}}), .cls({{cls}}));
//@ scores_port
  output wire [{{msb}}:0] scores,
//@ stage_reg
  reg [{{msb}}:0] {{q}};
  always @(posedge clk) {{q}} <= {{d}};
//@ valid_reg
  reg {{q}};
  initial {{q}} = 1'b0;
  always @(posedge clk) {{q}} <= {{d}};
